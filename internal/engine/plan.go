package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/controllers/provisioning"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator/injection"
	"sigs.k8s.io/karpenter/pkg/operator/options"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
)

// Options are the what-ifs and knobs of a plan.
type Options struct {
	// ZonesDown removes every offering in these zones and turns pods bound to nodes in them into
	// pending pods (the nodes and their NodeClaims disappear).
	ZonesDown []string
	// InstanceTypes gives each NodePool its instance types by its NodeClass; nil: Sources(snap, "").
	InstanceTypes InstanceTypeSource

	// keepStatic keeps static NodePools in the simulation (disruption handles their nodes).
	keepStatic bool
}

// ErrNoUsableNodePool means no NodePool is left that Karpenter would provision with; the error text
// says why each was left out. A plan with no NodePool would otherwise be silently empty.
var ErrNoUsableNodePool = errors.New("no usable NodePool")

// Plan runs Karpenter's Provisioner.Schedule over the snapshot with the instance types of each
// NodePool's NodeClass and reports what it decided.
func Plan(ctx context.Context, snap *Snapshot, opts Options) (*Result, error) {
	sim, err := newSimulation(ctx, snap, opts)
	if err != nil {
		return nil, err
	}
	results, err := sim.provisioner.Schedule(sim.ctx)
	if err != nil {
		return nil, fmt.Errorf("karpenter scheduling: %w", err)
	}
	return sim.result(results), nil
}

// simulation is everything Schedule needs, built from a snapshot.
type simulation struct {
	ctx         context.Context
	provisioner *provisioning.Provisioner
	cluster     *state.Cluster
	client      *snapshotClient
	cloud       *catalogProvider
	recorder    *eventRecorder
	pools       *nodePoolSet
	zonesDown   []string
	nodePools   []*karpv1.NodePool
	pending     []*corev1.Pod
	warnings    []Warning
}

func newSimulation(ctx context.Context, snap *Snapshot, opts Options) (*simulation, error) {
	if snap == nil {
		return nil, errors.New("engine.Plan: a snapshot is required")
	}
	src := opts.InstanceTypes
	if src == nil {
		var err error
		if src, err = Sources(snap, ""); err != nil {
			return nil, err
		}
	}
	ctx, err := karpenterContext(ctx)
	if err != nil {
		return nil, err
	}
	sim := &simulation{ctx: ctx, recorder: newEventRecorder()}

	pools, err := resolveNodePools(ctx, snap, src, opts.keepStatic)
	if err != nil {
		return nil, err
	}
	down, err := zonesDown(opts.ZonesDown, pools.zones())
	if err != nil {
		return nil, err
	}
	for z := range down {
		sim.zonesDown = append(sim.zonesDown, z)
	}
	sort.Strings(sim.zonesDown)
	nodePools := pools.usable(down)
	sim.pools = pools
	sim.warnings = append(append([]Warning{}, snap.Warnings...), pools.warnings...)
	if len(nodePools) == 0 {
		reasons := make([]string, 0, len(sim.warnings))
		for _, w := range sim.warnings {
			if w.NodePool != "" {
				reasons = append(reasons, w.NodePool+": "+w.Message)
			}
		}
		if len(snap.NodePools) == 0 {
			reasons = append(reasons, "the snapshot has no NodePools")
		}
		return nil, fmt.Errorf("%w: %s", ErrNoUsableNodePool, strings.Join(reasons, "; "))
	}
	sim.nodePools = nodePools
	cp := pools.provider()

	c := newSnapshotClient()
	for _, np := range nodePools {
		if err := c.add(np); err != nil {
			return nil, err
		}
	}

	// Nodes in a zone that is down vanish together with their NodeClaims; their pods become pending.
	goneNodes := map[string]bool{}
	var nodes []*corev1.Node
	for _, n := range snap.Nodes {
		if down[n.Labels[corev1.LabelTopologyZone]] {
			goneNodes[n.Name] = true
			continue
		}
		nodes = append(nodes, n)
	}
	var nodeClaims []*karpv1.NodeClaim
	for _, nc := range snap.NodeClaims {
		if goneNodes[nc.Status.NodeName] || down[nc.Labels[corev1.LabelTopologyZone]] {
			continue
		}
		nodeClaims = append(nodeClaims, nc)
	}
	seen := strays{}
	var bound []*corev1.Pod
	var pending []*corev1.Pod
	for _, p := range uniquePods(snap.Pods, snap.PendingPods, seen) {
		switch {
		case p.Spec.NodeName == "":
			pending = append(pending, p)
		case goneNodes[p.Spec.NodeName]:
			if podutils.IsOwnedByDaemonSet(p) || podutils.IsOwnedByNode(p) {
				continue // they go down with their node
			}
			q := p.DeepCopy()
			q.Spec.NodeName = ""
			pending = append(pending, q)
		default:
			bound = append(bound, p)
		}
	}
	sim.pending = preparePending(pendingToPlan(pending, seen))

	for _, objs := range [][]client.Object{
		asObjects(nodes), asObjects(nodeClaims), asObjects(bound), asObjects(sim.pending), asObjects(snap.DaemonSets),
		asObjects(snap.PersistentVolumeClaims), asObjects(snap.PersistentVolumes), asObjects(snap.StorageClasses), asObjects(snap.CSINodes),
		asObjects(snap.PodDisruptionBudgets),
	} {
		for _, o := range objs {
			if err := c.add(o); err != nil {
				return nil, fmt.Errorf("snapshot: %w", err)
			}
		}
	}

	cluster, err := newClusterState(ctx, c, cp, nodes, nodeClaims, bound, snap.DaemonSets, seen)
	if err != nil {
		return nil, err
	}
	sim.warnings = append(sim.warnings, seen.warnings()...)
	sim.cluster, sim.client, sim.cloud = cluster, c, cp
	sim.provisioner = provisioning.NewProvisioner(c, sim.recorder, cp, cluster, clock.RealClock{}, nil, nil)
	return sim, nil
}

// zonesDown checks the what-if's zones against the zones the NodePools can launch in, as given (a
// zone already taken down is not "unknown"); a repeated zone is the same what-if as once.
func zonesDown(zones, known []string) (map[string]bool, error) {
	down := map[string]bool{}
	for _, z := range zones {
		if err := checkZone(z, known); err != nil {
			return nil, err
		}
		down[z] = true
	}
	return down, nil
}

func asObjects[T client.Object](in []T) []client.Object {
	out := make([]client.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// karpenterContext carries what Karpenter reads from the context: its options (production defaults,
// set explicitly so that the environment of the user's shell does not change a plan), the controller
// name and a logger that discards Karpenter's logs.
func karpenterContext(ctx context.Context) (context.Context, error) {
	o := &options.Options{}
	fs := &options.FlagSet{FlagSet: flag.NewFlagSet("karpenter", flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := o.Parse(fs,
		"--feature-gates=ReservedCapacity=true,NodeOverlay=false,StaticCapacity=false,CapacityBuffer=false",
		"--preference-policy=Respect",
		"--min-values-policy=Strict",
		"--ignore-dra-requests=true",
		"--scheduler-config=",
		"--cpu-requests=1000",
		"--log-level=info",
	); err != nil {
		return nil, fmt.Errorf("karpenter options: %w", err)
	}
	ctx = options.ToContext(ctx, o)
	ctx = injection.WithControllerName(ctx, "provisioner")
	return log.IntoContext(ctx, logr.Discard()), nil
}

// Epoch is the creation time given to pending pods that have none (and, in package load, the base of
// the creation times of generated replicas), so that Karpenter's queue order (creation time, then
// UID) is the same on every run.
var Epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// preparePending returns copies of the pods marked the way kube-scheduler marks pods it gave up on
// (PodScheduled=False, reason Unschedulable), which is what Karpenter looks for, with a stable UID
// and creation time when missing.
func preparePending(pods []*corev1.Pod) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, len(pods))
	for i, p := range pods {
		q := p.DeepCopy()
		if q.UID == "" {
			q.UID = StableUID("pod", q.Namespace, q.Name)
		}
		if q.CreationTimestamp.IsZero() {
			q.CreationTimestamp = metav1.NewTime(Epoch.Add(time.Duration(i) * time.Millisecond))
		}
		if q.Status.Phase == "" {
			q.Status.Phase = corev1.PodPending
		}
		if !podutils.FailedToSchedule(q) {
			q.Status.Conditions = append(q.Status.Conditions, corev1.PodCondition{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
			})
		}
		out = append(out, q)
	}
	return out
}

// StableUID is a UID derived from parts: the same object gets the same UID on every run.
func StableUID(parts ...string) types.UID {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	h := hex.EncodeToString(sum[:16])
	return types.UID(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32])
}

func podName(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

func (s *simulation) result(r scheduler.Results) *Result {
	res := &Result{
		ZonesDown:     s.zonesDown,
		NodePools:     []NodePoolPlan{},
		ExistingNodes: []ExistingNodePlacement{},
		Unschedulable: []UnschedulableGroup{},
		Warnings:      append([]Warning{}, s.warnings...),
	}
	res.Totals.PendingPods = len(s.pending)
	handled := map[types.UID]bool{}

	ordered := append([]*karpv1.NodePool{}, s.nodePools...)
	nodepoolutils.OrderByWeight(ordered)
	index := map[string]int{}
	for _, np := range ordered {
		index[np.Name] = len(res.NodePools)
		res.NodePools = append(res.NodePools, s.pools.plan(np))
	}
	res.Catalog, res.Region, res.AWSData = s.pools.catalogs()
	for _, nc := range r.NewNodeClaims {
		plan := nodeClaimPlan(nc)
		for _, p := range nc.Pods {
			handled[p.UID] = true
		}
		pp := &res.NodePools[index[nc.NodePoolName]]
		pp.NodeClaims = append(pp.NodeClaims, plan)
		pp.PricePerHour += plan.PricePerHour
		pp.Pods += len(plan.Pods)
		res.Totals.NewNodes++
		res.Totals.PricePerHour += plan.PricePerHour
		res.Totals.PodsOnNewNodes += len(plan.Pods)
	}
	for i := range res.NodePools {
		ncs := res.NodePools[i].NodeClaims
		sort.SliceStable(ncs, func(a, b int) bool {
			if ncs[a].InstanceType != ncs[b].InstanceType {
				return ncs[a].InstanceType < ncs[b].InstanceType
			}
			if ncs[a].Zone != ncs[b].Zone {
				return ncs[a].Zone < ncs[b].Zone
			}
			return first(ncs[a].Pods) < first(ncs[b].Pods)
		})
	}
	for _, en := range r.ExistingNodes {
		if len(en.Pods) == 0 {
			continue
		}
		pl := ExistingNodePlacement{Node: en.Name(), NodePool: en.Labels()[karpv1.NodePoolLabelKey]}
		for _, p := range en.Pods {
			handled[p.UID] = true
			pl.Pods = append(pl.Pods, podName(p))
		}
		sort.Strings(pl.Pods)
		res.ExistingNodes = append(res.ExistingNodes, pl)
		res.Totals.PodsOnExistingNodes += len(pl.Pods)
	}
	sort.Slice(res.ExistingNodes, func(a, b int) bool { return res.ExistingNodes[a].Node < res.ExistingNodes[b].Node })

	groups := map[string]*UnschedulableGroup{}
	var keys []string
	addUnschedulable := func(stage, reason string, p *corev1.Pod) {
		handled[p.UID] = true
		k := stage + "\x00" + reason
		g, ok := groups[k]
		if !ok {
			g = &UnschedulableGroup{Stage: stage, Reason: reason}
			groups[k] = g
			keys = append(keys, k)
		}
		g.Pods = append(g.Pods, podName(p))
		res.Totals.UnschedulablePods++
	}
	for p, err := range r.PodErrors {
		addUnschedulable("scheduling", err.Error(), p)
	}
	// Whatever else Karpenter reported as FailedScheduling was rejected before scheduling. Karpenter
	// rejects some pods without an event (those requiring karpenter.sh/nodepool DoesNotExist, like its
	// own replicas): ask its own Validate why. A pod with no answer at all is still reported, never
	// dropped from the plan.
	for _, p := range s.pending {
		if handled[p.UID] {
			continue
		}
		if msg, ok := s.recorder.message(p.UID); ok {
			addUnschedulable("validation", msg, p)
			continue
		}
		switch err := s.provisioner.Validate(s.ctx, p); {
		case errors.Is(err, provisioning.KarpenterManagedLabelDoesNotExistError):
			addUnschedulable("ignored", "ignored by Karpenter: the pod requires karpenter.sh/nodepool DoesNotExist (it must not run on Karpenter-launched nodes), so only room on existing nodes, found by kube-scheduler, can take it", p)
		case err != nil:
			addUnschedulable("validation", err.Error(), p)
		default:
			addUnschedulable("unknown", "Karpenter's scheduler returned no decision for this pod", p)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		sort.Strings(g.Pods)
		res.Unschedulable = append(res.Unschedulable, *g)
	}
	sort.SliceStable(res.Unschedulable, func(a, b int) bool {
		return len(res.Unschedulable[a].Pods) > len(res.Unschedulable[b].Pods)
	})
	return res
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func weight(np *karpv1.NodePool) int32 {
	if np.Spec.Weight == nil {
		return 0
	}
	return *np.Spec.Weight
}

// nodeClaimPlan summarises a NodeClaim: the cheapest compatible offering over its instance-type
// options is what a lowest-price launch picks (ENGINE.md); ties go to the earlier option.
func nodeClaimPlan(nc *scheduler.NodeClaim) NodeClaimPlan {
	plan := NodeClaimPlan{Zones: []string{}, CapacityTypes: []string{}, Pods: make([]string, 0, len(nc.Pods))}
	zones, capacityTypes := map[string]bool{}, map[string]bool{}
	bestPrice := -1.0
	for _, it := range nc.InstanceTypeOptions {
		offs := it.Offerings.Available().Compatible(nc.Requirements)
		if len(offs) == 0 {
			continue
		}
		for _, o := range offs {
			zones[o.Requirements.Get(corev1.LabelTopologyZone).Any()] = true
			capacityTypes[o.Requirements.Get(karpv1.CapacityTypeLabelKey).Any()] = true
		}
		c := offs.Cheapest()
		if bestPrice < 0 || c.Price < bestPrice {
			bestPrice = c.Price
			plan.InstanceType = it.Name
			plan.PricePerHour = c.Price
			plan.Zone = c.Requirements.Get(corev1.LabelTopologyZone).Any()
			plan.CapacityType = c.Requirements.Get(karpv1.CapacityTypeLabelKey).Any()
			alloc := it.Allocatable()
			plan.CPUAllocatableMilli = alloc.Cpu().MilliValue()
			plan.MemoryAllocatable = alloc.Memory().Value()
		}
	}
	if n := len(nc.InstanceTypeOptions); n > 0 {
		plan.OtherInstanceTypes = n - 1
	}
	for z := range zones {
		plan.Zones = append(plan.Zones, z)
	}
	for c := range capacityTypes {
		plan.CapacityTypes = append(plan.CapacityTypes, c)
	}
	sort.Strings(plan.Zones)
	sort.Strings(plan.CapacityTypes)
	for _, p := range nc.Pods {
		plan.Pods = append(plan.Pods, podName(p))
	}
	sort.Strings(plan.Pods)
	req := nc.Spec.Resources.Requests
	plan.CPURequestMilli = req.Cpu().MilliValue()
	plan.MemoryRequest = req.Memory().Value()
	if plan.CPUAllocatableMilli > 0 {
		plan.CPUFill = float64(plan.CPURequestMilli) / float64(plan.CPUAllocatableMilli)
	}
	if plan.MemoryAllocatable > 0 {
		plan.MemoryFill = float64(plan.MemoryRequest) / float64(plan.MemoryAllocatable)
	}
	return plan
}
