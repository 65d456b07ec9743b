package explain

import (
	"fmt"

	"github.com/karpctl/karpctl/internal/engine"
)

// skipped are the NodePools Karpenter does not provision with, with the engine's reasons. One
// skipped because its NodeClass is not Ready gets a NodeClass reason, confirmed by scheduling the
// pod alone with the NodePool included as Karpenter would see it were its NodeClass Ready; when it
// is blocked even then, the constraints that block it are found as for any NodePool.
func (x *explainer) skipped() ([]NodePoolVerdict, error) {
	var out []NodePoolVerdict
	for _, sk := range x.sim.Skipped() {
		v := NodePoolVerdict{Name: sk.Name, Weight: sk.Weight, Verdict: VerdictSkipped, Message: sk.Message}
		if sk.NodeClass != nil {
			reasons, err := x.nodeClass(sk)
			if err != nil {
				return nil, err
			}
			v.Reasons = reasons
		}
		out = append(out, v)
	}
	return out, nil
}

// nodeClass is the NodeClass reason of a NodePool skipped for it, and the reasons that block the
// NodePool once it is Ready.
func (x *explainer) nodeClass(sk engine.SkippedNodePool) ([]Reason, error) {
	nc := sk.NodeClass
	r := Reason{Kind: NodeClass, NodeClass: &NodeClassStatus{Kind: nc.Kind, Name: nc.Name, Reason: nc.Reason, Message: nc.Message},
		Message: fmt.Sprintf("its NodeClass %s/%s is not Ready (NodeClassReady=False, %s: %s), so Karpenter skips the NodePool", nc.Kind, nc.Name, nc.Reason, nc.Message)}
	r.Change = fmt.Sprintf("make %s %s Ready (its status says %s: %s)", nc.Kind, nc.Name, nc.Reason, nc.Message)
	if sk.AsReady == nil {
		r.Message += "; karpctl cannot run Karpenter's scheduler with it Ready (the NodeClass does not exist, or would leave the NodePool no instance type), so what the NodePool would then do is not known"
		return []Reason{r}, nil
	}
	run, err := x.try(sk.AsReady, nil)
	if err != nil {
		return nil, err
	}
	if run.claim != nil {
		r.Message += fmt.Sprintf("; with it Ready, Karpenter's scheduler launches %s for the pod", run.claim.InstanceType)
		r.Change += fmt.Sprintf("; the NodePool then launches %s for the pod", run.claim.InstanceType)
		return []Reason{r}, nil
	}
	if run.node != "" {
		r.Message += fmt.Sprintf("; with it Ready, node %s has room for the pod alone and Karpenter launches nothing for it", run.node)
		return []Reason{r}, nil
	}
	others, alternatives, err := x.prove(sk.AsReady)
	if err != nil {
		return nil, err
	}
	if alternatives {
		r.Message += "; with it Ready, the pod is still blocked, and relaxing any one of the reasons below is enough"
	} else {
		r.Message += "; with it Ready, the pod is still blocked by the reasons below"
	}
	return append([]Reason{r}, others...), nil
}
