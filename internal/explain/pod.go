package explain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
	sim, err := engine.NewSimulation(ctx, snap, opts)
	if err != nil {
		return nil, err
	}
	return PodIn(sim, namespace, name)
}

// PodIn is Pod over a simulation already built (the plan is made again, then one run per
// NodePool and constraint for the pod alone).
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
	e.NodePools = append(e.NodePools, skipped(sim)...)
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

// skipped are the NodePools Karpenter does not provision with, with the reasons the engine gives.
func skipped(sim *engine.Simulation) []NodePoolVerdict {
	var out []NodePoolVerdict
	index := map[string]int{}
	for _, w := range sim.Warnings() {
		if w.NodePool == "" {
			continue
		}
		i, ok := index[w.NodePool]
		if !ok {
			i = len(out)
			index[w.NodePool] = i
			out = append(out, NodePoolVerdict{Name: w.NodePool, Verdict: VerdictSkipped})
		}
		v := &out[i]
		v.Message = strings.TrimPrefix(v.Message+"; "+w.Message, "; ")
		if strings.Contains(w.Message, "NodeClass") && strings.Contains(w.Message, "not Ready") {
			v.Reasons = append(v.Reasons, Reason{Kind: NodeClass, Message: w.Message,
				Change: "make the NodeClass Ready (see its status conditions): Karpenter marks the NodePool not Ready and skips it until then"})
		}
	}
	return out
}
