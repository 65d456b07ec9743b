package top

import (
	"fmt"
	"sort"
	"time"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/units"
)

// Predictions are the last background computations over a snapshot of the caches: node prices,
// plan's result for the pending pods and disrupt's.
type Predictions struct {
	Prices map[string]float64
	// Plan and Disrupt are nil before their first run or when it failed (see PlanRun/DisruptRun).
	Plan       *engine.Result
	PlanRun    Computed
	Disrupt    *engine.DisruptResult
	DisruptRun Computed

	podPlan     map[string]string
	nodeDisrupt map[string][2]string
}

// NewPredictions indexes what plan and disrupt said per pod and per node.
func NewPredictions(prices map[string]float64, plan *engine.Result, planRun Computed, dis *engine.DisruptResult, disRun Computed) *Predictions {
	p := &Predictions{Prices: prices, Plan: plan, PlanRun: planRun, Disrupt: dis, DisruptRun: disRun,
		podPlan: map[string]string{}, nodeDisrupt: map[string][2]string{}}
	if plan != nil {
		for _, np := range plan.NodePools {
			for _, nc := range np.NodeClaims {
				for _, pod := range nc.Pods {
					p.podPlan[pod] = fmt.Sprintf("new NodeClaim of NodePool %s (%s, %s, %s)", np.Name, nc.InstanceType, nc.Zone, nc.CapacityType)
				}
			}
		}
		for _, e := range plan.ExistingNodes {
			for _, pod := range e.Pods {
				p.podPlan[pod] = "existing node " + e.Node
			}
		}
		for _, u := range plan.Unschedulable {
			for _, pod := range u.Pods {
				p.podPlan[pod] = "unschedulable: " + u.Reason
			}
		}
	}
	if dis != nil {
		for _, st := range dis.Staying {
			p.nodeDisrupt[st.Node] = [2]string{"", "stays: " + st.Reason}
		}
		if len(dis.Commands) > 0 {
			c := dis.Commands[0]
			for _, cand := range c.Candidates {
				p.nodeDisrupt[cand.Node] = [2]string{c.Method, fmt.Sprintf("Karpenter would %s it now (%s, reason %s)", c.Decision, c.Method, c.Reason)}
			}
		}
	}
	return p
}

func (p *Predictions) disruption(node string) (method, why string) {
	d := p.nodeDisrupt[node]
	return d[0], d[1]
}

func (p *Predictions) budgets(nodePool string) map[string]int {
	if p.Disrupt == nil {
		return nil
	}
	var out map[string]int
	for _, b := range p.Disrupt.Budgets {
		if b.NodePool != nodePool {
			continue
		}
		if out == nil {
			out = map[string]int{}
		}
		out[b.Reason] = b.Allowed
	}
	return out
}

func next(p *Predictions, interval time.Duration) Next {
	n := Next{Interval: units.Seconds(interval)}
	if p.PlanRun.At.IsZero() && p.DisruptRun.At.IsZero() {
		return n
	}
	n.Launch = &LaunchSummary{Computed: p.PlanRun, Groups: []NodeClaimLine{}}
	if r := p.Plan; r != nil {
		l := n.Launch
		l.PendingPods, l.NewNodeClaims, l.PricePerHour = r.Totals.PendingPods, r.Totals.NewNodes, r.Totals.PricePerHour
		l.OnExisting, l.Unschedulable = r.Totals.PodsOnExistingNodes, r.Totals.UnschedulablePods
		for _, np := range r.NodePools {
			l.Groups = append(l.Groups, groupNodeClaims(np)...)
		}
	}
	n.Disrupt = &DisruptSummary{Computed: p.DisruptRun, Nodes: []string{}}
	if r := p.Disrupt; r != nil && len(r.Commands) > 0 {
		c := r.Commands[0]
		d := n.Disrupt
		d.Method, d.Reason, d.Decision, d.Replacements, d.SavingsPerHour = c.Method, c.Reason, c.Decision, len(c.Replacements), c.SavingsPerHour
		for _, cand := range c.Candidates {
			d.Nodes = append(d.Nodes, cand.Node)
		}
	}
	return n
}

// groupNodeClaims folds a NodePool's identical new NodeClaims into one line each.
func groupNodeClaims(np engine.NodePoolPlan) []NodeClaimLine {
	var out []NodeClaimLine
	index := map[[3]string]int{}
	for _, nc := range np.NodeClaims {
		k := [3]string{nc.InstanceType, nc.Zone, nc.CapacityType}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, NodeClaimLine{NodePool: np.Name, InstanceType: nc.InstanceType, Zone: nc.Zone, CapacityType: nc.CapacityType})
		}
		out[i].Count++
		out[i].Pods += len(nc.Pods)
		out[i].PricePerHour += nc.PricePerHour
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Count > out[b].Count })
	return out
}
