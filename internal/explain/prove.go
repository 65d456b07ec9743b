package explain

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"

	"github.com/karpctl/karpctl/internal/engine"
)

// explainer runs the counterfactuals for one pod: each run schedules the pod alone (a one-pod
// snapshot over the same cluster state) on one NodePool.
type explainer struct {
	sim *engine.Simulation
	pod *corev1.Pod
}

// run is one counterfactual run's answer for the pod.
type run struct {
	claim  *engine.NodeClaimPlan // the NodeClaim launched for it, nil when none
	node   string                // the existing node that takes it alone, if one does
	reason string                // Karpenter's reason when none
}

// ok: the pod schedules, on a new NodeClaim of the NodePool or (once a constraint of the pod's own
// is relaxed) onto an existing node.
func (r run) ok() bool { return r.claim != nil || r.node != "" }

// try schedules the pod alone on the NodePool with the constraints relaxed.
func (x *explainer) try(np *karpv1.NodePool, relaxed []constraint) (run, error) {
	p, n := x.pod.DeepCopy(), np.DeepCopy()
	for _, c := range relaxed {
		c.relax(p, n)
	}
	res, err := x.sim.Schedule([]*corev1.Pod{p}, []*karpv1.NodePool{n})
	if err != nil {
		return run{}, err
	}
	name := p.Namespace + "/" + p.Name
	for _, pp := range res.NodePools {
		for i := range pp.NodeClaims {
			if slices.Contains(pp.NodeClaims[i].Pods, name) {
				return run{claim: &pp.NodeClaims[i]}, nil
			}
		}
	}
	o := outcome(res, name)
	if o.Kind == OutcomeExistingNode {
		return run{node: o.Node}, nil
	}
	return run{reason: o.Reason}, nil
}

// verdict is what the NodePool does with the pod, in Karpenter's order (ordered), given the plan's
// outcome.
func (x *explainer) verdict(np *karpv1.NodePool, o Outcome, ordered []*karpv1.NodePool) (NodePoolVerdict, error) {
	v := NodePoolVerdict{Name: np.Name, Weight: weightOf(np)}
	if o.Kind == OutcomeRunning || o.Kind == OutcomeExistingNode {
		v.Verdict, v.Message = VerdictNotNeeded, fmt.Sprintf("node %s takes the pod: Karpenter launches nothing for it", o.Node)
		return v, nil
	}
	base, err := x.try(np, nil)
	if err != nil {
		return v, err
	}
	if base.claim != nil {
		v.NodeClaim = base.claim
		switch {
		case o.Kind == OutcomeNewNodeClaim && o.NodePool == np.Name:
			v.Verdict = VerdictLaunches
		case o.Kind == OutcomeNewNodeClaim && before(ordered, o.NodePool, np.Name):
			v.Verdict, v.Message = VerdictLaunchable, fmt.Sprintf("would launch %s for the pod, but Karpenter tries NodePool %s first (weight, then name)", base.claim.InstanceType, o.NodePool)
		case o.Kind == OutcomeNewNodeClaim:
			v.Verdict, v.Message = VerdictLaunchable, fmt.Sprintf("would launch %s for the pod alone; in the plan, the pending pods ahead of it leave NodePool %s to take it", base.claim.InstanceType, o.NodePool)
		default:
			v.Verdict, v.Message = VerdictLaunchable, fmt.Sprintf("would launch %s for the pod alone; in the plan, the pending pods ahead of it in Karpenter's queue use up what the NodePool can launch", base.claim.InstanceType)
		}
		return v, nil
	}
	if base.node != "" {
		v.Verdict, v.Message = VerdictNotNeeded, fmt.Sprintf("node %s has room for the pod alone; in the plan, the pending pods ahead of it in Karpenter's queue take that room first", base.node)
		return v, nil
	}
	v.Verdict, v.Message = VerdictBlocked, base.reason
	reasons, alternatives, err := x.prove(np)
	v.Reasons, v.Alternatives = reasons, alternatives
	return v, err
}

// prove finds every constraint that blocks the NodePool for the pod. Relaxing every suspect must
// let the pod schedule (Resources is added only when the others are not enough); then each suspect
// is kept in turn, the others relaxed: if the pod no longer schedules, that suspect blocks. When
// none is needed on its own (any one of several is enough), each one that suffices alone is listed
// as an alternative. The changes are sized by the NodeClaim of the run with only the blocking
// constraints relaxed.
func (x *explainer) prove(np *karpv1.NodePool) ([]Reason, bool, error) {
	its := x.sim.InstanceTypes(np.Name)
	suspects := candidates(x.pod, np, its)
	all, err := x.try(np, suspects)
	if err != nil {
		return nil, false, err
	}
	if !all.ok() {
		suspects = append(suspects, resourcesRelaxed)
		if all, err = x.try(np, suspects); err != nil || !all.ok() {
			return nil, false, err
		}
	}
	if suspects, all, err = x.narrowOffering(np, suspects, all); err != nil {
		return nil, false, err
	}
	var blocking []constraint
	for i, c := range suspects {
		if len(suspects) == 1 { // kept alone, nothing is relaxed: that is the run that failed
			blocking = append(blocking, c)
			break
		}
		others := append(append([]constraint{}, suspects[:i]...), suspects[i+1:]...)
		r, err := x.try(np, others)
		if err != nil {
			return nil, false, err
		}
		if !r.ok() {
			blocking = append(blocking, c)
		}
	}
	alternatives := false
	if len(blocking) == 0 {
		alternatives = true
		for _, c := range suspects {
			r, err := x.try(np, []constraint{c})
			if err != nil {
				return nil, false, err
			}
			if r.ok() {
				blocking = append(blocking, c)
			}
		}
		if len(blocking) == 0 { // only all of them together: each is part of the answer
			blocking, alternatives = suspects, false
		}
	}
	sized := all
	if !alternatives && len(blocking) < len(suspects) {
		if r, err := x.try(np, blocking); err != nil {
			return nil, false, err
		} else if r.ok() {
			sized = r
		}
	}
	d := describer{x: x, np: np, claim: sized.claim, blocking: blocking}
	if alternatives { // each one is described on its own run, the others kept
		d.blocking = nil
	}
	out := make([]Reason, 0, len(blocking))
	for _, c := range blocking {
		if alternatives {
			r, err := x.try(np, []constraint{c})
			if err != nil {
				return nil, false, err
			}
			d.claim = r.claim
		}
		out = append(out, d.describe(c))
	}
	return out, alternatives, nil
}

// narrowOffering makes an Offering suspect relax as little as works, with the other suspects
// relaxed: zone alone, then capacity type alone, each on the pod's requirement, then the
// NodePool's, then both (only those that exist); zone and capacity type together when none is
// enough. all is the run with every suspect relaxed, which worked.
func (x *explainer) narrowOffering(np *karpv1.NodePool, suspects []constraint, all run) ([]constraint, run, error) {
	i := slices.IndexFunc(suspects, func(c constraint) bool { return c.kind == Offering })
	if i < 0 {
		return suspects, all, nil
	}
	podReqs, npReqs := scheduling.NewStrictPodRequirements(x.pod), scheduler.NewNodeClaimTemplate(np).Requirements
	for _, k := range offeringKeys {
		var ons []int
		if podReqs.Has(k) {
			ons = append(ons, onPod)
		}
		if npReqs.Has(k) {
			ons = append(ons, onNodePool)
		}
		if len(ons) == 2 {
			ons = append(ons, onBoth)
		}
		for _, on := range ons {
			narrowed := slices.Clone(suspects)
			narrowed[i] = offering(on, k)
			r, err := x.try(np, narrowed)
			if err != nil {
				return nil, run{}, err
			}
			if r.ok() {
				return narrowed, r, nil
			}
		}
	}
	return suspects, all, nil
}

// before says whether NodePool a comes before b in Karpenter's order.
func before(ordered []*karpv1.NodePool, a, b string) bool {
	ia := slices.IndexFunc(ordered, func(np *karpv1.NodePool) bool { return np.Name == a })
	ib := slices.IndexFunc(ordered, func(np *karpv1.NodePool) bool { return np.Name == b })
	return ia >= 0 && ia < ib
}

func weightOf(np *karpv1.NodePool) int32 {
	if np.Spec.Weight == nil {
		return 0
	}
	return *np.Spec.Weight
}
