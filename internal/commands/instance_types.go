package commands

import (
	"context"
	"errors"
	"io"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/manifest"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

func init() { register(newInstanceTypesCmd) }

const instanceTypesLong = `List the instance types Karpenter would consider for a NodePool or a NodeClass, as Karpenter's
own code computes them: for an EC2NodeClass the AWS provider's instance-type model (capacity, kube-
and system-reserved, eviction threshold, ENI-limited max pods, ephemeral storage from the block
device mappings) with that region's prices; for a KWOKNodeClass Karpenter's kwok catalog.

--nodepool NAME filters by the NodePool's requirements with Karpenter's own requirement
compatibility, as its scheduler does before any pod; --nodeclass NAME lists every instance type of
the NodeClass. With one NodePool in the cluster neither is needed. Each row shows the allocatable
cpu, memory, pods, ephemeral storage and GPUs (what Karpenter packs pods against) and the cheapest
offering; -o wide adds every offering (capacity type, zone, $/h) and the labels; -o json|yaml print
everything. Sorted by price, then name. --requests cpu=…,memory=… marks which types have room for
such a pod ("why is m5.large not enough?"); --pod FILE does it for a pod (or a workload's pod
template) with Karpenter's own request sum (init containers, overhead) and also checks its node
selector, affinity and tolerations. Both are answered by Karpenter's scheduler placing the pod on a
new node of the NodePool: a type fits when its allocatable holds the pod and the pods of the
DaemonSets Karpenter expects on that node (live, or from -f). With the NodeOverlay feature gate on,
NodeOverlays (live, or from -f) change the listed prices and capacity through Karpenter's own
overlay store, and each changed type is marked with the overlay's name.

Live (default): one paginated LIST each of NodePools, EC2NodeClasses and NodeOverlays (and, with
--requests or --pod, of DaemonSets) and one page of nodes (for the region); nothing is written.
-f FILE|DIR|- adds NodePools and EC2NodeClasses from manifests on top ("what would this NodePool get?"); --offline reads the files alone (give --region
when the EC2NodeClasses have no status.subnets and no node tells it). Offline, the files may hold
only an EC2NodeClass, which is then listed; --offline --region REGION without -f (or with files that
hold neither NodePool nor EC2NodeClass) lists every instance type of the region for an AL2023
EC2NodeClass with the defaults, in every zone.

Exit codes: 0 listed; 2 bad flags or input (unknown NodePool or NodeClass, unknown or missing
--region, bad catalog); 3 the NodeClass is not Ready, so Karpenter would launch nothing with it;
1 API error.`

const instanceTypesExample = `  # What can the default NodePool launch, cheapest first?
  kubectl karpctl instance-types --nodepool default

  # Every instance type of an EC2NodeClass, with all offerings and labels
  kubectl karpctl instance-types --nodeclass default -o wide

  # Which types have room for a pod requesting 2 CPUs and 7Gi? For this Deployment's pods?
  kubectl karpctl instance-types --nodepool default --requests cpu=2,memory=7Gi
  kubectl karpctl instance-types --nodepool default --pod deploy.yaml

  # Offline, from exported manifests
  kubectl karpctl instance-types --offline -f ./karpenter/ --nodepool default --region eu-west-1

  # Offline, every instance type of a region (AL2023, default kubelet, every zone)
  kubectl karpctl instance-types --offline --region us-east-1`

// InstanceTypesOptions are instance-types' flags.
type InstanceTypesOptions struct {
	env       *Env
	Format    output.Format
	NodePool  string
	NodeClass string
	Requests  string
	Pod       string
	snapshotSource
	catalogFlags

	query engine.InstanceTypeQuery
}

func newInstanceTypesCmd(env *Env) *cobra.Command {
	o := &InstanceTypesOptions{env: env}
	cmd := snapshotCommand(&cobra.Command{
		Use:     "instance-types",
		Short:   "List the instance types Karpenter would consider for a NodePool or NodeClass, with allocatable resources and prices",
		Long:    instanceTypesLong,
		Example: instanceTypesExample,
	}, "List", o, &o.Format, &o.snapshotSource, &o.catalogFlags)
	f := cmd.Flags()
	f.StringVar(&o.NodePool, "nodepool", "", "The NodePool whose instance types to list (filtered by its requirements)")
	f.StringVar(&o.NodeClass, "nodeclass", "", "The NodeClass (e.g. an EC2NodeClass) whose instance types to list")
	f.StringVar(&o.Requests, "requests", "", "Mark the types with room for a pod requesting cpu=…,memory=…[,RESOURCE=QUANTITY]")
	f.StringVar(&o.Pod, "pod", "", "Mark the types Karpenter would consider for this pod: FILE with a Pod (or a Deployment, StatefulSet, ReplicaSet or Job: its pod template)")
	return cmd
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *InstanceTypesOptions) Validate(changed func(string) bool) error {
	if o.NodePool != "" && o.NodeClass != "" {
		return cli.UsageError("give --nodepool or --nodeclass, not both")
	}
	if o.Pod != "" && o.Requests != "" {
		return cli.UsageError("give --pod or --requests, not both")
	}
	switch {
	case o.Offline && len(o.Files) == 0 && o.Region == "":
		return cli.UsageError("--offline needs -f FILE|DIR|- or --region REGION (every instance type of the region)")
	case o.Offline && len(o.Files) == 0:
		if o.ChunkSize <= 0 {
			return cli.UsageError("--chunk-size must be positive")
		}
	default:
		if err := o.validate(); err != nil {
			return err
		}
	}
	o.query = engine.InstanceTypeQuery{NodePool: o.NodePool, NodeClass: o.NodeClass}
	if o.Requests != "" {
		r, err := engine.ParseRequests(o.Requests)
		if err != nil {
			return cli.UsageError("--requests: %v (want e.g. cpu=2,memory=7Gi)", err)
		}
		o.query.Requests = r
	}
	if o.Pod != "" {
		pods, err := load.FromFiles([]string{o.Pod}, load.Options{Options: manifest.Options{Stdin: o.env.In}, SkipUnknownKinds: true})
		if err != nil {
			return cli.UsageError("--pod: %v", err)
		}
		if len(pods.PendingPods) == 0 {
			return cli.UsageError("--pod %s: no Pod without a node, Deployment, StatefulSet, ReplicaSet or Job in the file", o.Pod)
		}
		o.query.Pod = pods.PendingPods[0]
	}
	return o.validateCatalog(changed)
}

// Run reads the NodePools and NodeClasses, lists the instance types and prints them.
func (o *InstanceTypesOptions) Run(ctx context.Context) error {
	snap, err := o.read(ctx)
	if err != nil {
		return err
	}
	src, err := o.source(snap)
	if err != nil {
		return err
	}
	list, err := engine.InstanceTypes(ctx, snap, src, o.query)
	var nce *engine.NodeClassError
	switch {
	case errors.As(err, &nce):
		return cli.Unhealthy("%v: Karpenter launches nothing with it", nce)
	case errors.Is(err, engine.ErrNotFound):
		return cli.UsageError("%v", err)
	case err != nil:
		return inputError(err)
	}
	return o.env.print(o.Format, list, func(w io.Writer, s output.Styles, wide bool) error {
		return view.InstanceTypes(w, s, list, wide)
	})
}

// read loads the NodePools and NodeClasses: from the cluster (with -f on top) or the files alone.
// Offline, files with neither NodePool nor EC2NodeClass (or none) get the default EC2NodeClass.
func (o *InstanceTypesOptions) read(ctx context.Context) (*engine.Snapshot, error) {
	if o.Offline {
		files := &engine.Snapshot{}
		if len(o.Files) > 0 {
			var err error
			if files, err = o.loadFiles(o.env, load.Options{SkipUnknownKinds: true}); err != nil {
				return nil, err
			}
		}
		if len(files.NodePools) == 0 && len(files.EC2NodeClasses) == 0 {
			files.EC2NodeClasses = []*awsv1.EC2NodeClass{defaultEC2NodeClass()}
		}
		return files, o.karpenterSettings(ctx, files, nil)
	}
	var files *engine.Snapshot
	if len(o.Files) > 0 {
		var err error
		if files, err = o.readFiles(o.env, load.Options{SkipUnknownKinds: true}); err != nil {
			return nil, err
		}
	}
	kube, dyn, err := snapshotClients(o.env)
	if err != nil {
		return nil, err
	}
	snap, err := load.NodeClasses(ctx, kube, dyn, o.ChunkSize)
	if err != nil {
		return nil, err
	}
	if o.query.Requests != nil || o.query.Pod != nil {
		if err := load.DaemonSets(ctx, kube, o.ChunkSize, snap); err != nil {
			return nil, err
		}
	}
	if files != nil {
		load.Merge(snap, files)
	}
	if snap.KarpenterDeployment == nil {
		if k, err := discovery.Find(ctx, kube, o.env.Globals.Find); err == nil {
			snap.KarpenterDeployment = k.Deployment
		}
	}
	return snap, o.karpenterSettings(ctx, snap, kube)
}

// defaultEC2NodeClass is an EC2NodeClass with the defaults (AL2023, no kubelet settings, no block
// device mappings) and no status: the AWS model gives it every zone of the region and says so.
func defaultEC2NodeClass() *awsv1.EC2NodeClass {
	nc := &awsv1.EC2NodeClass{}
	nc.Name = "default"
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	return nc
}
