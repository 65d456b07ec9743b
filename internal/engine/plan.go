package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/controllers/provisioning"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// Options are the what-ifs and knobs of a plan.
type Options struct {
	// ZonesDown removes every offering in these zones and turns pods bound to nodes in them into
	// pending pods (the nodes and their NodeClaims disappear).
	ZonesDown []string
	// InstanceTypes gives each NodePool its instance types by its NodeClass; nil: Sources(snap, "").
	InstanceTypes InstanceTypeSource

	// KeepNotReady keeps the NodePools Karpenter skips because their NodeClass is not Ready out of
	// the plan but in the simulation, with the instance types their NodeClass would have were it
	// Ready, so that a counterfactual run may include them (Simulation.Skipped). A snapshot whose
	// NodePools are all such is then no error: the plan has no NodePool.
	KeepNotReady bool

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
	res := sim.result(results)
	if staticGate(sim.ctx) {
		if res.Static, err = sim.static(); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// simulation is everything Schedule needs, built from a snapshot.
type simulation struct {
	ctx         context.Context
	provisioner *provisioning.Provisioner
	cluster     *state.Cluster
	client      *snapshotClient
	cloud       cloudprovider.CloudProvider
	overlays    *overlays
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
	ctx, err := karpenterContext(ctx, snap.Karpenter)
	if err != nil {
		return nil, err
	}
	sim := &simulation{ctx: ctx, recorder: newEventRecorder()}

	pools, err := resolveNodePools(ctx, snap, src, opts.keepStatic || staticGate(ctx), opts.KeepNotReady)
	if err != nil {
		return nil, err
	}
	down, err := zonesDown(opts.ZonesDown, pools.zones(), zoneNamesByID(snap))
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
	if len(nodePools) == 0 && !(opts.KeepNotReady && pools.anyAsReady()) {
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

	seen := strays{}
	left := takeZonesDown(snap.Nodes, snap.NodeClaims, uniquePods(snap.Pods, snap.PendingPods, seen), down)
	nodes, nodeClaims, bound := left.nodes, left.nodeClaims, left.bound
	sim.pending = preparePending(pendingToPlan(left.pending, seen))

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

	provider, ov, ws, err := decorate(ctx, c, cp, snap.NodeOverlays)
	if err != nil {
		return nil, err
	}
	cluster, err := newClusterState(ctx, c, provider, nodes, nodeClaims, bound, snap.DaemonSets, seen)
	if err != nil {
		return nil, err
	}
	if ws, err = ov.reconcile(ctx, c, cluster, ws); err != nil {
		return nil, err
	}
	sim.warnings = append(append(sim.warnings, ws...), seen.warnings()...)
	sim.cluster, sim.client, sim.cloud, sim.overlays = cluster, c, provider, ov
	sim.provisioner = provisioning.NewProvisioner(c, sim.recorder, provider, cluster, clock.RealClock{}, nil, nil)
	return sim, nil
}

func asObjects[T client.Object](in []T) []client.Object {
	out := make([]client.Object, len(in))
	for i, o := range in {
		out[i] = o
	}
	return out
}

// karpenterContext carries what Karpenter reads from the context: the options of the cluster's
// Karpenter (settings; nil: Karpenter's defaults), built by package karpenter, the controller name and
// a logger that discards Karpenter's logs.
func karpenterContext(ctx context.Context, settings *karpenter.Settings) (context.Context, error) {
	return settings.Context(ctx), nil
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
