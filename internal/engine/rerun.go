package engine

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/operator/options"
)

// Simulation is a snapshot prepared once for Karpenter's scheduler — cluster state, NodePools and
// their instance types — that can be scheduled again for other pending pods or changed NodePools
// over the same cluster state. Counterfactual runs ("would this pod schedule if the NodePool had no
// limit?") use it so that the state of a large cluster is built once. It is not safe for concurrent
// use.
type Simulation struct {
	sim           *simulation
	basePending   []*corev1.Pod
	baseNodePools []*karpv1.NodePool
}

// NewSimulation prepares the snapshot as Plan does; Plan() then gives Plan's result.
func NewSimulation(ctx context.Context, snap *Snapshot, opts Options) (*Simulation, error) {
	sim, err := newSimulation(ctx, snap, opts)
	if err != nil {
		return nil, err
	}
	return &Simulation{sim: sim, basePending: sim.pending, baseNodePools: sim.nodePools}, nil
}

// Plan schedules the snapshot's pending pods with its NodePools: the result engine.Plan returns.
func (s *Simulation) Plan() (*Result, error) { return s.Schedule(s.basePending, s.baseNodePools) }

// Schedule runs Karpenter's Provisioner.Schedule again over the same cluster state with only these
// pending pods and these NodePools. Each NodePool must carry the name of one of NodePools() or of a
// Skipped() one with AsReady (it may be a changed copy of it): it gets that NodePool's instance
// types. Pods are marked pending the way Plan marks them; nothing passed in is modified.
func (s *Simulation) Schedule(pods []*corev1.Pod, nodePools []*karpv1.NodePool) (*Result, error) {
	sim := s.sim
	if !samePods(pods, sim.pending) || !samePools(nodePools, sim.nodePools) {
		pending := pods
		if !samePods(pods, s.basePending) {
			pending = preparePending(pods)
		}
		sim.client.remove(append(asObjects(sim.pending), asObjects(sim.nodePools)...)...)
		for _, o := range append(asObjects(pending), asObjects(nodePools)...) {
			if err := sim.client.add(o); err != nil {
				return nil, fmt.Errorf("counterfactual run: %w", err)
			}
		}
		sim.pending, sim.nodePools = pending, nodePools
	}
	sim.recorder.reset()
	results, err := sim.provisioner.Schedule(sim.ctx)
	if err != nil {
		return nil, fmt.Errorf("karpenter scheduling: %w", err)
	}
	return sim.result(results), nil
}

func samePods(a, b []*corev1.Pod) bool { return slices.Equal(a, b) }

func samePools(a, b []*karpv1.NodePool) bool { return slices.Equal(a, b) }

// NodePools are the NodePools Karpenter would provision with, as the scheduler sees them (Ready),
// in the snapshot's order.
func (s *Simulation) NodePools() []*karpv1.NodePool { return s.baseNodePools }

// PendingPods are the snapshot's pending pods as Plan schedules them (marked Unschedulable, with a
// UID and creation time).
func (s *Simulation) PendingPods() []*corev1.Pod { return s.basePending }

// Warnings are the plan's warnings: NodePools Karpenter would skip and why, objects left out.
func (s *Simulation) Warnings() []Warning { return s.sim.warnings }

// InstanceTypes are the instance types Karpenter's scheduler gets for the NodePool (its NodeClass's,
// outside the zones that are down), nil for a NodePool it does not provision with.
func (s *Simulation) InstanceTypes(nodePool string) []*cloudprovider.InstanceType {
	return s.sim.pools.byNodePool[nodePool]
}

// NodePoolUsage is what the NodePool's nodes and in-flight NodeClaims count against its limits, as
// Karpenter's cluster state sums it.
func (s *Simulation) NodePoolUsage(nodePool string) corev1.ResourceList {
	return s.sim.cluster.NodePoolResourcesFor(nodePool)
}

// KarpenterOptions are the options Karpenter's code runs with in the simulation (the snapshot's
// Karpenter settings, or Karpenter's defaults).
func (s *Simulation) KarpenterOptions() *options.Options { return options.FromContext(s.sim.ctx) }

// Reader reads the simulation's objects as Karpenter's code reads them (nodes, bound and pending
// pods, volumes); nothing can be written through it.
func (s *Simulation) Reader() client.Reader { return s.sim.client }
