package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/klog/v2"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
	viewtop "github.com/karpctl/karpctl/internal/view/top"
)

func init() { register(newTopCmd) }

const topLong = `A live picture of a Karpenter cluster in the terminal: the cluster's Karpenter and its leader
(the same lease verdict as ` + "`karpctl lease`" + `), the cost of Karpenter's nodes and the pending pods; one row per
NodePool (nodes, requests against allocatable, use of its limits, $/h, disruption budget left now);
the nodes grouped by NodePool with a bar of requested cpu (or --resources), instance type, zone,
capacity type, price, age and marks: C cordoned, N do-not-disrupt, D drifted, and ⇢METHOD when
Karpenter's disruption would take the node now; and Next: what Karpenter would launch for the pending
pods (plan's summary) and its first disruption command (disrupt's), computed by Karpenter's own
scheduler and disruption methods in the background at most once per --predict-interval, and only
when the cluster changed.

Prices are those of the instance types each NodePool's NodeClass resolves to (kwok's catalog for a
KWOKNodeClass, the AWS provider's model for an EC2NodeClass; --catalog overrides).

Karpenter's settings are plan's: the cluster's Karpenter Deployment (its controller's env and args,
ConfigMap keys), parsed by Karpenter's own option parsers and read once when top starts — top does
not watch the Deployment, so restart top after changing them. The header lists every setting that
differs from Karpenter's default. With the NodeOverlay feature gate on, NodeOverlays are watched and
applied through Karpenter's own overlay store.

Keys: ↑/↓ PgUp/PgDn move, / filters the nodes (name, NodePool, type, zone, capacity type), s changes
the sort (nodepool, creation, price, fill), p pauses the screen, Enter shows why a node goes or stays
(disrupt's reason) or, for a pending pod, what karpctl explain says of it, ? help, q or Ctrl-C quits.

When standard output is not a terminal, with --once or -o json|yaml, top prints one snapshot of the
same screen (after every kind has been read and the predictions made once) and exits.

API cost: one Deployment LIST to find Karpenter and one GET per ConfigMap its env references, then
one LIST and one WATCH per kind, for as long as top runs — pods (every pod not finished: plan's
pending and bound pods in one), nodes, DaemonSets, PVCs, PVs, StorageClasses, CSINodes,
PodDisruptionBudgets, NodePools, NodeClaims, EC2NodeClasses, NodeOverlays (only with the NodeOverlay
gate on) and Karpenter's Lease (by name). A watch that ends resumes from its resourceVersion. Nothing
is written. A kind that is forbidden is not retried: the panel that needs it names the grant.

Exit codes: 0 quit; 1 API error; 2 bad flags (unknown --resources, sort key or selector) or a
Karpenter setting in its Deployment that Karpenter refuses.`

const topExample = `  # Watch Karpenter's nodes, NodePools and next decisions
  kubectl karpctl top

  # Bars of cpu and memory; newest nodes first; only one NodePool's nodes
  kubectl karpctl top --resources cpu,memory --sort creation -l karpenter.sh/nodepool=default

  # One snapshot for a script
  kubectl karpctl top --once
  kubectl karpctl top -o json`

// TopOptions are top's flags.
type TopOptions struct {
	env             *Env
	Format          output.Format
	Once            bool
	Resources       string
	Sort            string
	Selector        string
	PredictInterval time.Duration
	catalogFlags

	view top.View
}

func newTopCmd(env *Env) *cobra.Command {
	o := &TopOptions{env: env}
	cmd := &cobra.Command{
		Use:     "top",
		Short:   "Live view of Karpenter's nodes, NodePools, leader and what it would do next",
		Long:    topLong,
		Example: topExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(cmd.Flags().Changed); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	output.AddFormatFlag(f, &o.Format, output.TableFormat, output.JSON, output.YAML)
	f.BoolVar(&o.Once, "once", false, "Print one snapshot and exit (also when standard output is not a terminal)")
	f.StringVar(&o.Resources, "resources", "cpu", "Resources the bars show, comma-separated: cpu, memory, ephemeral-storage, pods or an extended resource")
	f.StringVar(&o.Sort, "sort", string(top.SortNodePool), "Order of the nodes: nodepool (grouped), creation, price or fill")
	f.StringVarP(&o.Selector, "selector", "l", "", "Show only the nodes matching this label selector")
	f.DurationVar(&o.PredictInterval, "predict-interval", 10*time.Second, "Least time between two predictions (plan and disrupt) of Next")
	o.addCatalogFlags(f)
	return cmd
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *TopOptions) Validate(changed func(string) bool) error {
	res, err := top.ParseResources(o.Resources)
	if err != nil {
		return cli.UsageError("--resources: %v", err)
	}
	key, err := top.ParseSort(o.Sort)
	if err != nil {
		return cli.UsageError("--sort: %v", err)
	}
	sel, err := labels.Parse(o.Selector)
	if err != nil {
		return cli.UsageError("-l %q is not a label selector: %v", o.Selector, err)
	}
	if o.PredictInterval <= 0 {
		return cli.UsageError("--predict-interval must be positive, e.g. 10s")
	}
	o.view = top.View{Resources: res, Sort: key, Selector: sel, PredictInterval: o.PredictInterval}
	return o.validateCatalog(changed)
}

// syncTimeout bounds how long a snapshot waits for the first read of every kind.
var syncTimeout = time.Minute

// Run starts the informers, then shows the screen until quit, or prints one snapshot.
func (o *TopOptions) Run(ctx context.Context) error {
	live, err := o.live(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	live.Start(ctx)
	if !o.Once && !o.Format.Machine() && output.Terminal(o.env.Out) {
		// client-go's warnings (a watch that ended, a lost connection) would scribble over the
		// screen; the header reports the connection instead.
		klog.LogToStderr(false)
		klog.SetOutput(io.Discard)
		return viewtop.Run(ctx, live, o.view, o.env.In, o.env.Out)
	}
	wait, stop := context.WithTimeout(ctx, syncTimeout)
	defer stop()
	if err := live.WaitSynced(wait); err != nil {
		in := live.Input(o.view, time.Now())
		return fmt.Errorf("reading the cluster: not every kind was read within %s (%s)", syncTimeout, in.Connection.Error)
	}
	live.Predict(ctx)
	screen := top.Build(live.Input(o.view, time.Now()))
	return o.env.print(o.Format, screen, func(w io.Writer, s output.Styles, _ bool) error {
		return viewtop.Write(w, s, screen, 0)
	})
}

// live finds Karpenter and builds the model with clients whose transport tells whether the API
// server answers.
func (o *TopOptions) live(ctx context.Context) (*top.Live, error) {
	kube, cfg, err := o.env.Clients()
	if err != nil {
		return nil, err
	}
	opts := top.Options{Conn: &top.Conn{}, PredictInterval: o.PredictInterval, Source: o.source, EngineVersion: cli.EngineVersion()}
	opts.Cluster, opts.Context = o.clusterName()
	k, err := discovery.Find(ctx, kube, o.env.Globals.KarpenterSearch())
	switch {
	case err == nil:
		opts.Karpenter = k
	case errors.Is(err, discovery.ErrNotFound):
		opts.KarpenterError = err.Error()
	case apierrors.IsForbidden(err):
		opts.KarpenterError = err.Error() + " (grant list on deployments.apps)"
	default:
		return nil, err
	}
	// Read once, as plan reads them: top does not watch the Deployment, so a change to Karpenter's
	// settings shows when top is started again.
	var deploy *appsv1.Deployment
	if opts.Karpenter != nil {
		deploy = opts.Karpenter.Deployment
	}
	if opts.Settings, err = readKarpenterSettings(ctx, deploy, karpenter.ConfigMapsOf(kube), nil); err != nil {
		return nil, err
	}
	cfg.Wrap(opts.Conn.Wrap)
	if opts.Kube, err = cli.ClientsetFor(cfg); err != nil {
		return nil, err
	}
	if opts.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building dynamic client: %w", err)
	}
	return top.New(opts), nil
}

// clusterName is the kubeconfig's cluster and context names (--context, --cluster respected).
func (o *TopOptions) clusterName() (cluster, context string) {
	raw, err := o.env.Globals.Kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", ""
	}
	context = raw.CurrentContext
	if c := o.env.Globals.Kube.Context; c != nil && *c != "" {
		context = *c
	}
	if c := raw.Contexts[context]; c != nil {
		cluster = c.Cluster
	}
	if c := o.env.Globals.Kube.ClusterName; c != nil && *c != "" {
		cluster = *c
	}
	return cluster, context
}
