package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

func init() { register(newPlanCmd) }

const planLong = `Show what Karpenter would launch for the pending pods, computed by Karpenter's own scheduler
(Provisioner.Schedule of the bundled sigs.k8s.io/karpenter, see ` + "`karpctl version`" + `) over a snapshot of
the cluster, with the instance types each NodePool's NodeClass gets: the AWS provider's own
instance-type model (sigs.k8s.io/karpenter's AWS provider, fed with dated EC2 facts and that region's
prices) for NodePools referencing an EC2NodeClass, Karpenter's kwok catalog for a KWOKNodeClass.
--catalog kwok|FILE plans every NodePool with one catalog instead. karpctl never launches nodes:
--dry-run is the only mode.

Live (default): reads pending pods (all namespaces, or -n NAMESPACE), bound pods, Nodes, NodeClaims,
NodePools, EC2NodeClasses, DaemonSets and volumes with paginated lists (protobuf for core kinds) and
writes nothing. -f FILE|DIR|- adds objects from manifests on top: Pods, Deployments/StatefulSets/
ReplicaSets/Jobs (expanded into their replicas as pending pods — "what if I apply this?"), NodePools
and EC2NodeClasses. With --offline the plan is made from the files alone, without a cluster.

EC2NodeClasses are read as Karpenter reads them: zones from status.subnets, the AMI family from
amiSelectorTerms (alias) or status.amis, kubelet, blockDeviceMappings and instanceStorePolicy. A
NodePool whose EC2NodeClass is missing or not Ready is skipped, as Karpenter skips it, with the
reason of Karpenter's NodeClassReady condition. The region is the nodes'
topology.kubernetes.io/region, else the subnets' zones' region, else --region (needed offline when
neither tells it); prices are that region's. An EC2NodeClass without status (offline) is planned
for every zone of the region, with a warning.

Karpenter's settings: the plan runs with the settings of the cluster's Karpenter — its
Deployment's controller env (literal values and ConfigMap keys), args, or a Karpenter Deployment
in the -f files (helm template output) — parsed by Karpenter's own option parsers, then
--karpenter-setting NAME=VALUE on top (FEATURE_GATES=NodeOverlay=true, MIN_VALUES_POLICY=BestEffort,
PREFERENCE_POLICY=Ignore, …; live or --offline). The header lists every setting that differs from
Karpenter's default and where it came from; -o json lists them all. NodeOverlays
(karpenter.sh/v1alpha1, live or -f) go through Karpenter's own overlay store when its NodeOverlay
gate is on (ignored with a warning when off): the NodeClaims table marks the instance types they
changed and names the type the provider launches at its own prices.

What-ifs: --zone-down ZONE removes the zone's offerings and turns the pods of its nodes into
pending pods (ZONE is a zone name, or a zone ID such as use1-az1 that the EC2NodeClasses'
status.subnets or the nodes' topology.k8s.aws/zone-id labels map to the zone's name); --scale [KIND/]NAME=N sets a Deployment's (StatefulSet's, ReplicaSet's) replicas — in
live mode the workload in the cluster (namespace -n, default "default"; KIND default deployment),
with --offline the one in the files (without KIND/, any of the three kinds of that name). One
--scale per workload.

The output groups the new NodeClaims by NodePool with the cheapest instance type Karpenter's
options allow (and how many other options remain), zone, capacity type, $/h, pods and CPU/memory
fill; then placements onto existing nodes (-o wide lists them and every NodeClaim), unschedulable
pods grouped by Karpenter's reason, warnings (NodePools Karpenter would skip, a cluster Karpenter
version other than the bundled one) and totals. -o json|yaml print the same as a stable schema.

API cost (live): one paginated LIST each of pending pods (field selector, per -n namespace), bound
pods, nodes, DaemonSets, PVCs, PVs, StorageClasses, CSINodes, NodePools and NodeClaims, and of
EC2NodeClasses when a NodePool references one; one Deployment LIST to find Karpenter's version and
settings; one LIST of NodeOverlays; one GET per ConfigMap its env references; one GET per --scale. Nothing is written.

Exit codes: 0 every pending pod has a place (new or existing node); 3 the plan leaves pods
unschedulable, or no NodePool is usable (the reason per NodePool is printed); 2 bad flags or input
(malformed YAML, unknown kind, bad catalog, unknown zone, unknown or missing --region,
--dry-run=false, offline files without a usable NodePool, a Karpenter setting Karpenter refuses);
1 API error.`

const planExample = `  # What would Karpenter launch for the pods pending now?
  kubectl karpctl plan --dry-run

  # What if I apply this Deployment? (on top of the live cluster, or fully offline)
  kubectl karpctl plan -f deploy.yaml
  kubectl karpctl plan --offline -f nodepools.yaml -f deploy.yaml

  # Lose a zone; scale a workload up
  kubectl karpctl plan --zone-down eu-west-1a

  # Offline, EKS NodePools and EC2NodeClasses exported to a directory
  kubectl karpctl plan --offline -f ./karpenter/ -f deploy.yaml --region eu-west-1
  kubectl karpctl plan --scale deployment/web=40 -n shop

  # What if Karpenter relaxed minValues, or ignored preferences?
  kubectl karpctl plan --karpenter-setting MIN_VALUES_POLICY=BestEffort
  kubectl karpctl plan --offline -f ./karpenter/ --karpenter-setting PREFERENCE_POLICY=Ignore

  # Every NodeClaim and placement; machine-readable
  kubectl karpctl plan -o wide
  kubectl karpctl plan -o json`

// PlanOptions are plan's flags.
type PlanOptions struct {
	env    *Env
	Format output.Format
	dryRunOnly
	snapshotSource
	ZonesDown []string
	Scale     []string
	catalogFlags

	namespaces []string
	scale      []load.ScaleTarget
}

func newPlanCmd(env *Env) *cobra.Command {
	o := &PlanOptions{env: env}
	cmd := snapshotCommand(&cobra.Command{
		Use:     "plan",
		Short:   "Dry-run Karpenter's scheduler: which NodeClaims it would create for the pending pods",
		Long:    planLong,
		Example: planExample,
	}, "Plan", o, &o.Format, &o.snapshotSource, &o.catalogFlags)
	f := cmd.Flags()
	o.addDryRunFlag(f, "Plan", "launches nodes")
	f.StringArrayVar(&o.ZonesDown, "zone-down", nil, "What if this zone were lost: its name or zone ID (e.g. use1-az1, as the EC2NodeClasses' status.subnets map it) (repeatable)")
	f.StringArrayVar(&o.Scale, "scale", nil, "What if this workload had N replicas: [deployment|statefulset|replicaset/]NAME=N (repeatable)")
	return cmd
}

// Validate checks the flags and reads the catalog; nothing has been sent to the cluster yet. changed
// tells which flags were given (cmd.Flags().Changed).
func (o *PlanOptions) Validate(changed func(string) bool) error {
	if err := validateDecision(&o.dryRunOnly, &o.snapshotSource, &o.catalogFlags, changed); err != nil {
		return err
	}
	ns := o.env.Globals.Namespace()
	if ns != "" {
		o.namespaces = []string{ns}
	}
	scale, err := load.ParseScale(o.Scale, ns, !o.Offline)
	if err != nil {
		return cli.UsageError("--scale %v", err)
	}
	o.scale = scale
	return nil
}

// Run loads the snapshot, plans and prints; the exit code follows the plan's verdict.
func (o *PlanOptions) Run(ctx context.Context) error {
	read, err := o.read(ctx, o.env, load.Options{Scale: o.scale}, load.ClusterOptions{Namespaces: o.namespaces})
	if err != nil {
		return err
	}
	if read.mode == "live" && len(o.scale) > 0 {
		if err := load.ScaleLive(ctx, read.kube, read.Snapshot, o.scale); err != nil {
			var nf *load.ScaleNotFoundError
			if errors.As(err, &nf) {
				return cli.UsageError("--%v", err)
			}
			return err
		}
	}
	res, err := o.plan(ctx, read.Snapshot)
	if err != nil {
		return o.engineVerdict(err)
	}
	res.Warnings = read.withSkew(res.Warnings)
	report := engine.PlanReport{
		Mode: read.mode, Engine: cli.Engine(), EngineVersion: cli.EngineVersion(), KarpenterVersion: read.KarpenterVersion,
		Namespaces: o.namespaces, Files: o.Files, Scale: o.Scale, KarpenterSettings: read.Snapshot.Karpenter, Result: res,
	}
	if err := o.env.print(o.Format, report, func(w io.Writer, s output.Styles, wide bool) error { return view.Plan(w, s, report, wide) }); err != nil {
		return err
	}
	if n := res.Totals.UnschedulablePods; n > 0 {
		return cli.Unhealthy("plan: %d of %d pending pods are unschedulable", n, res.Totals.PendingPods)
	}
	return nil
}

// progressAfter is how long planning runs before the progress line is printed.
var progressAfter = time.Second

// plan runs the engine and, when it takes more than a second, says so once on stderr.
func (o *PlanOptions) plan(ctx context.Context, snap *engine.Snapshot) (res *engine.Result, err error) {
	msg := fmt.Sprintf("planning %d pending pods with Karpenter %s's scheduler…", len(snap.PendingPods), cli.EngineVersion())
	err = withProgress(o.env, msg, func() (err error) {
		src, err := o.source(snap)
		if err != nil {
			return err
		}
		res, err = engine.Plan(ctx, snap, engine.Options{ZonesDown: o.ZonesDown, InstanceTypes: src})
		return err
	})
	if errors.Is(err, engine.ErrUnknownZone) {
		return nil, cli.UsageError("--zone-down: %v", err)
	}
	return res, inputError(err)
}
