package commands

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/metadata"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/internal/view"
)

func init() { register(newAuditCmd) }

const auditLong = `Audit Karpenter's high-availability topology on the live cluster: where each replica runs (node,
zone, rack, whether Karpenter manages the node, which one leads) and what the Deployment promises
(PDB, zone spread, host anti-affinity, node affinity away from Karpenter's nodes, priority class,
requests, election settings), against the --profile's checklist. Ends with what losing each zone or
node would leave.

Every finding has a stable id, a severity (error, warning, info) and a remediation. A check that
could not run (no rack label on the nodes, FlowSchemas not readable, offline without pods) is
listed as not checked, never as passed.

With -f the Deployment and PodDisruptionBudget come from manifests (helm template output, a
directory, with -R its subdirectories too, or - for stdin) and only the spec checks run; add pods (in -f) and --nodes-file (a
` + "`kubectl get nodes -o yaml`" + ` dump) to run the placement checks offline.

API cost (live): 1 Deployment list, 1 pod list by selector, 1 metadata-only node list per
--chunk-size nodes (the zone inventory, which also gives the replicas' nodes), 1 PDB list in Karpenter's namespace, 1 Lease GET,
and 1 FlowSchema list when Karpenter is not in kube-system; --system-node-selector adds 1 pod list
per replica node. Nothing is written.

Exit codes: 0 no finding at or above --fail-on; 3 findings at or above --fail-on (default error);
2 bad flags or manifests; 1 API error.`

const auditExample = `  # Audit against the basic profile (2 replicas, 2 hosts, 2 zones)
  kubectl karpctl audit-topology

  # Production: 3 replicas across 3 zones; fail CI on warnings too
  kubectl karpctl audit-topology --profile critical --fail-on warning

  # Racks and reserved system nodes
  kubectl karpctl audit-topology --rack-label topology.kubernetes.io/rack --system-node-selector node-role/system=true

  # Before installing: audit the chart's output (spec checks only)
  helm template karpenter oci://public.ecr.aws/karpenter/karpenter -n kube-system | kubectl karpctl audit-topology -f -

  # Support bundle: manifests, pods and nodes dumped from a cluster
  kubectl karpctl audit-topology -f karpenter.yaml -f pods.yaml --nodes-file nodes.yaml

  # Code scanning
  kubectl karpctl audit-topology -o sarif > karpenter-topology.sarif

  # Every production cluster at once: a row per context, one merged SARIF log
  kubectl karpctl audit-topology --context-selector '^prod-' --profile critical
  kubectl karpctl audit-topology --all-contexts -o sarif > fleet-topology.sarif`

// AuditOptions are audit-topology's flags.
type AuditOptions struct {
	env                *Env
	Format             output.Format
	Profile            string
	RackLabels         []string
	SystemNodeSelector string
	FailOn             string
	filenameFlags
	NodesFile string
	ChunkSize int64
	Fleet     FleetOptions

	profile     topology.Profile
	failOn      topology.Severity // "" = never
	systemNodes labels.Selector
}

func newAuditCmd(env *Env) *cobra.Command {
	o := &AuditOptions{env: env, Fleet: FleetOptions{env: env}}
	cmd := &cobra.Command{
		Use:     "audit-topology",
		Aliases: []string{"audit"},
		Short:   "Audit where Karpenter's replicas run and what its Deployment promises against an HA checklist",
		Long:    auditLong,
		Example: auditExample,
		Args:    cobra.NoArgs,
		RunE:    validatedRun(o),
	}
	f := cmd.Flags()
	output.AddFormatFlag(f, &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML, output.SARIF)
	f.StringVar(&o.Profile, "profile", string(topology.ProfileBasic), "Availability target: test (1 replica), basic (2), critical (3 across zones)")
	f.StringArrayVar(&o.RackLabels, "rack-label", nil, "Node label naming the rack (repeatable; the first a node carries is used)")
	f.StringVar(&o.SystemNodeSelector, "system-node-selector", "", "Label selector of the nodes reserved for system components; replicas outside them, and workload pods beside them, are reported")
	f.StringVar(&o.FailOn, "fail-on", "error", "Exit 3 when a finding is at or above this severity: error|warning|never")
	o.addFilenameFlags(f, "Audit manifests instead of the cluster")
	f.StringVar(&o.NodesFile, "nodes-file", "", "With -f: a `kubectl get nodes -o yaml` dump, to run the placement checks offline")
	f.Int64Var(&o.ChunkSize, "chunk-size", 500, "Page size of the node inventory's list (live)")
	o.Fleet.AddFlags(f)
	return cmd
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *AuditOptions) Validate() error {
	p, err := topology.ParseProfile(o.Profile)
	if err != nil {
		return cli.UsageError("%v", err)
	}
	o.profile = p
	switch o.FailOn {
	case "error":
		o.failOn = topology.Error
	case "warning":
		o.failOn = topology.Warning
	case "never":
		o.failOn = ""
	default:
		return cli.UsageError("--fail-on %q: want error, warning or never", o.FailOn)
	}
	for _, l := range o.RackLabels {
		if strings.TrimSpace(l) == "" || strings.ContainsAny(l, "=, ") {
			return cli.UsageError("--rack-label %q: want a node label key, e.g. topology.kubernetes.io/rack", l)
		}
	}
	if o.SystemNodeSelector != "" {
		sel, err := labels.Parse(o.SystemNodeSelector)
		if err != nil {
			return cli.UsageError("--system-node-selector %q is not a label selector: %v", o.SystemNodeSelector, err)
		}
		o.systemNodes = sel
	}
	if o.ChunkSize <= 0 {
		return cli.UsageError("--chunk-size must be positive")
	}
	if o.NodesFile != "" && len(o.Files) == 0 {
		return cli.UsageError("--nodes-file needs -f: live audits read the nodes from the cluster")
	}
	return o.Fleet.Validate("filename", "recursive", "nodes-file")
}

func (o *AuditOptions) options() topology.Options {
	return topology.Options{Profile: o.profile, RackLabels: o.RackLabels, SystemNodes: o.systemNodes, FailOn: o.failOn, ChunkSize: o.ChunkSize}
}

// Run audits the cluster (or the manifests, or every context), prints the report and maps findings
// to the exit code.
func (o *AuditOptions) Run(ctx context.Context) error {
	if o.Fleet.On() {
		return fleetRun(ctx, &o.Fleet, "audit-topology", o.Format, o.check, view.AuditFleet, func(outs []fleet.Outcome[topology.Report]) any {
			return fleet.SARIF(outs, cli.Version)
		})
	}
	var (
		r     topology.Report
		code  int
		files []string
		err   error
	)
	if len(o.Files) > 0 {
		var in topology.Input
		if in, files, err = o.readOffline(); err == nil {
			r, code = o.evaluate(in)
		}
	} else {
		r, code, err = o.check(ctx, o.env)
	}
	if err != nil {
		return err
	}
	switch o.Format {
	case output.SARIF:
		err = output.Write(o.env.Out, output.JSON, topology.ToSARIF(r, cli.Version, files))
	case output.JSON, output.YAML:
		err = output.Write(o.env.Out, o.Format, r)
	default:
		err = view.AuditReport(o.env.Out, o.env.Styles(), r, o.Format == output.Wide)
	}
	if err != nil {
		return err
	}
	if code != cli.ExitOK {
		return cli.Unhealthy("audit-topology: %d finding(s) at or above --fail-on %s", r.Failing(), o.FailOn)
	}
	return nil
}

// check audits one live cluster: the report and its exit code under --fail-on.
func (o *AuditOptions) check(ctx context.Context, env *Env) (topology.Report, int, error) {
	c, cfg, k, err := env.FindKarpenter(ctx)
	if err != nil {
		return topology.Report{}, cli.ExitOK, err
	}
	md, err := metadata.NewForConfig(cfg)
	if err != nil {
		return topology.Report{}, cli.ExitOK, fmt.Errorf("building metadata client: %w", err)
	}
	in, err := topology.Read(ctx, c, md, k, o.options())
	if err != nil {
		return topology.Report{}, cli.ExitOK, err
	}
	r, code := o.evaluate(in)
	return r, code, nil
}

// evaluate judges the audit's input: exit 3 when findings reach --fail-on.
func (o *AuditOptions) evaluate(in topology.Input) (topology.Report, int) {
	r := topology.Evaluate(in, o.options())
	if r.Failing() > 0 {
		return r, cli.ExitUnhealthy
	}
	return r, cli.ExitOK
}

func (o *AuditOptions) readOffline() (topology.Input, []string, error) {
	ns := cmp.Or(o.env.Globals.Namespace(), "default")
	m, err := topology.ReadManifests(o.Files, o.readOptions(o.env), ns)
	if err != nil {
		return topology.Input{}, nil, cli.UsageError("%v", err)
	}
	var nodes []corev1.Node
	if o.NodesFile != "" {
		nm, err := topology.ReadManifests([]string{o.NodesFile}, o.readOptions(o.env), ns)
		if err != nil {
			return topology.Input{}, nil, cli.UsageError("%v", err)
		}
		if len(nm.Nodes) == 0 {
			return topology.Input{}, nil, cli.UsageError("--nodes-file %s: no v1 Node objects (want `kubectl get nodes -o yaml` output)", o.NodesFile)
		}
		nodes = nm.Nodes
	}
	in, _, err := m.OfflineInput(o.env.Globals.Find.Selector, nodes)
	if err != nil {
		return topology.Input{}, nil, cli.UsageError("%v", err)
	}
	return in, m.Files, nil
}
