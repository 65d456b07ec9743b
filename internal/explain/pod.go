package explain

import (
	"context"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"

	"github.com/karpctl/karpctl/internal/engine"
)

// ErrPodNotFound means the snapshot has no such pod.
var ErrPodNotFound = errors.New("pod not found")

// Pod explains what Karpenter does with the pod NAMESPACE/NAME of the snapshot (pending or bound):
// the plan's outcome for it, every NodePool's verdict with each blocking constraint confirmed by a
// counterfactual run, the smallest change per blocked NodePool and, when a NodePool launches for
// it, the ranking of instance types.
func Pod(ctx context.Context, snap *engine.Snapshot, namespace, name string, opts engine.Options) (*PodExplanation, error) {
	for _, p := range snap.Pods {
		if p.Namespace == namespace && p.Name == name && p.Spec.NodeName != "" {
			return running(p), nil
		}
	}
	opts.KeepNotReady = true // a NodePool skipped for its NodeClass is proven by a run with it Ready
	sim, err := engine.NewSimulation(ctx, snap, opts)
	if err != nil {
		return nil, err
	}
	return PodIn(sim, namespace, name)
}

// PodIn is Pod over a simulation already built (the plan is made again, then one run per
// NodePool and constraint for the pod alone); built with engine.Options.KeepNotReady, it proves the
// NodeClass reasons too.
func PodIn(sim *engine.Simulation, namespace, name string) (*PodExplanation, error) {
	var pod *corev1.Pod
	for _, p := range sim.PendingPods() {
		if p.Namespace == namespace && p.Name == name {
			pod = p
		}
	}
	if pod == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrPodNotFound, namespace, name)
	}
	plan, err := sim.Plan()
	if err != nil {
		return nil, err
	}
	e := &PodExplanation{Pod: namespace + "/" + name, Requests: podRequests(pod), Outcome: outcome(plan, e0(namespace, name)),
		NodePools: []NodePoolVerdict{}, Warnings: plan.Warnings}
	ordered := append([]*karpv1.NodePool(nil), sim.NodePools()...)
	nodepoolutils.OrderByWeight(ordered)
	ex := &explainer{sim: sim, pod: pod}
	for _, np := range ordered {
		v, err := ex.verdict(np, e.Outcome, ordered)
		if err != nil {
			return nil, err
		}
		e.NodePools = append(e.NodePools, v)
	}
	skipped, err := ex.skipped()
	if err != nil {
		return nil, err
	}
	e.NodePools = append(e.NodePools, skipped...)
	if e.Outcome.Kind == OutcomeNewNodeClaim {
		for i, np := range ordered {
			if np.Name == e.Outcome.NodePool {
				e.InstanceTypes = ex.rank(np, e.NodePools[i].NodeClaim)
			}
		}
	}
	return e, nil
}

func e0(namespace, name string) string { return namespace + "/" + name }

func running(p *corev1.Pod) *PodExplanation {
	return &PodExplanation{
		Pod: p.Namespace + "/" + p.Name, Requests: podRequests(p), NodePools: []NodePoolVerdict{}, Warnings: []engine.Warning{},
		Outcome: Outcome{Kind: OutcomeRunning, Node: p.Spec.NodeName},
	}
}

// outcome finds the pod in the plan.
func outcome(plan *engine.Result, pod string) Outcome {
	for _, np := range plan.NodePools {
		for i := range np.NodeClaims {
			nc := np.NodeClaims[i]
			if slices.Contains(nc.Pods, pod) {
				return Outcome{Kind: OutcomeNewNodeClaim, NodePool: np.Name, NodeClaim: &nc, SharedWith: without(nc.Pods, pod)}
			}
		}
	}
	for _, en := range plan.ExistingNodes {
		if slices.Contains(en.Pods, pod) {
			return Outcome{Kind: OutcomeExistingNode, Node: en.Node, NodePool: en.NodePool, SharedWith: without(en.Pods, pod)}
		}
	}
	for _, g := range plan.Unschedulable {
		if slices.Contains(g.Pods, pod) {
			return Outcome{Kind: OutcomeUnschedulable, Reason: g.Reason, Stage: g.Stage}
		}
	}
	return Outcome{Kind: OutcomeUnschedulable, Reason: "Karpenter's scheduler returned no decision for this pod", Stage: "unknown"}
}

func without(pods []string, pod string) []string {
	var out []string
	for _, p := range pods {
		if p != pod {
			out = append(out, p)
		}
	}
	return out
}
