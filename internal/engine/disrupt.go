package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/controllers/disruption"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/events"
	"sigs.k8s.io/karpenter/pkg/operator/injection"
	"sigs.k8s.io/karpenter/pkg/state/cost"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
)

// DisruptOptions are the what-ifs of a disruption dry run.
type DisruptOptions struct {
	// IgnoreConsolidateAfter treats every NodeClaim as Consolidatable: what Karpenter would do once
	// every consolidateAfter timer has run out.
	IgnoreConsolidateAfter bool
	// All asks every method for its commands; otherwise, as Karpenter's controller does, the methods
	// run in order until one has a command.
	All bool
}

// Disrupt runs Karpenter's own disruption methods (sigs.k8s.io/karpenter pkg/controllers/disruption:
// Emptiness, StaticDrift, Drift, MultiNodeConsolidation, SingleNodeConsolidation, in the controller's
// order) over the snapshot, with Karpenter's candidate selection, disruption budgets and command
// validation, and reports the commands it would execute and why every other Karpenter node stays.
// Nothing is executed: the validators run at once instead of after Karpenter's 15 s wait, which
// over a fixed snapshot gives the same answer.
//
// src gives each NodePool its instance types by NodeClass, as for Plan; nil: Sources(snap, "").
func Disrupt(ctx context.Context, snap *Snapshot, src InstanceTypeSource, opts DisruptOptions) (*DisruptResult, error) {
	if snap == nil {
		return nil, errors.New("engine.Disrupt: a snapshot is required")
	}
	res := &DisruptResult{Commands: []DisruptionCommand{}, Budgets: []Budget{}, Staying: []NodeStay{}, Warnings: []Warning{}}
	if countKarpenterNodes(snap) == 0 {
		res.Warnings = append(res.Warnings, Warning{Message: "the cluster has no Karpenter nodes: nothing to disrupt"})
		return res, nil
	}
	snap, warnings := disruptionSnapshot(snap, opts)
	sim, err := newSimulation(ctx, snap, Options{InstanceTypes: src, keepStatic: true})
	if err != nil {
		return nil, err
	}
	res.Catalog, _, _ = sim.pools.catalogs()
	res.Warnings = append(append(res.Warnings, warnings...), sim.warnings...)
	d := newDisrupter(sim)
	for _, m := range d.methods {
		cmds, err := d.run(m)
		if err != nil {
			return nil, fmt.Errorf("karpenter disruption (%s): %w", methodName(m), err)
		}
		res.Commands = append(res.Commands, cmds...)
		if len(cmds) > 0 && !opts.All {
			break
		}
	}
	// One copy of the state's nodes serves the budgets, the reasons to stay and the totals.
	nodes := d.sim.cluster.DeepCopyNodes()
	res.Budgets = d.budgets(nodes)
	karpenterNodes := managedNodes(nodes)
	res.Staying = d.staying(karpenterNodes, res.Commands, res.Budgets)
	res.Totals = disruptTotals(res, len(karpenterNodes))
	return res, nil
}

// disrupter holds Karpenter's disruption machinery over one simulation.
type disrupter struct {
	ctx         context.Context
	sim         *simulation
	clock       clock.Clock
	queue       *disruption.Queue
	clusterCost *cost.ClusterCost
	methods     []disruption.Method
}

func newDisrupter(sim *simulation) *disrupter {
	ctx := injection.WithControllerName(sim.ctx, "disruption")
	clk := clock.RealClock{}
	// An empty orchestration queue: nothing is being disrupted, and nothing will be started.
	queue := disruption.NewQueue(sim.client, sim.recorder, sim.cluster, clk, sim.provisioner)
	c := disruption.MakeConsolidation(clk, sim.cluster, sim.client, sim.provisioner, sim.cloud, sim.recorder, queue)
	return &disrupter{
		ctx: ctx, sim: sim, clock: clk, queue: queue,
		clusterCost: cost.NewClusterCost(ctx, sim.cloud, sim.client),
		// disruption.NewMethods' list and order, with validators that do not wait. Repair is left out
		// as Karpenter does while its NodeRepair feature gate is off (the default).
		methods: []disruption.Method{
			disruption.NewEmptiness(c, disruption.WithValidator(atOnce{disruption.NewEmptinessValidator(c)})),
			disruption.NewStaticDrift(sim.cluster, sim.provisioner, sim.cloud, sim.recorder),
			disruption.NewDrift(sim.client, sim.cluster, sim.provisioner, sim.recorder, clk),
			disruption.NewMultiNodeConsolidation(c, disruption.WithValidator(atOnce{disruption.NewMultiConsolidationValidator(c)})),
			disruption.NewSingleNodeConsolidation(c, disruption.WithValidator(atOnce{disruption.NewSingleConsolidationValidator(c)})),
		},
	}
}

// atOnce runs Karpenter's own validator without its wait: over a snapshot nothing changes in 15 s.
type atOnce struct{ disruption.Validator }

func (v atOnce) Validate(ctx context.Context, cmd disruption.Command, _ time.Duration) (disruption.Command, error) {
	return v.Validator.Validate(ctx, cmd, 0)
}

// run is one pass of the disruption controller's disrupt() for method m, without starting anything.
func (d *disrupter) run(m disruption.Method) ([]DisruptionCommand, error) {
	candidates, totals, err := disruption.GetCandidatesWithTotals(d.ctx, d.sim.cluster, d.sim.client, d.sim.recorder, d.clock, d.sim.cloud, m.ShouldDisrupt, m.Class(), d.queue, d.clusterCost)
	if err != nil {
		return nil, fmt.Errorf("determining candidates: %w", err)
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	if setter, ok := m.(disruption.NodePoolTotalsSetter); ok {
		setter.SetNodePoolTotals(totals)
	}
	budgets, err := disruption.BuildDisruptionBudgetMapping(d.ctx, d.sim.cluster, d.clock, d.sim.client, d.sim.cloud, d.sim.recorder, m.Reason())
	if err != nil {
		return nil, fmt.Errorf("building disruption budgets: %w", err)
	}
	cmds, err := m.ComputeCommands(d.ctx, budgets, candidates...)
	if err != nil {
		return nil, fmt.Errorf("computing disruption decision: %w", err)
	}
	var out []DisruptionCommand
	for _, cmd := range cmds {
		if cmd.Decision() == disruption.NoOpDecision {
			continue
		}
		out = append(out, d.command(m, cmd))
	}
	return out, nil
}

func methodName(m disruption.Method) string {
	name := fmt.Sprintf("%T", m)
	return name[strings.LastIndex(name, ".")+1:]
}

// command summarises a Karpenter command: its candidates, where their pods go, and the replacements.
func (d *disrupter) command(m disruption.Method, cmd disruption.Command) DisruptionCommand {
	out := DisruptionCommand{
		Method: methodName(m), Reason: string(m.Reason()), Decision: string(cmd.Decision()),
		Candidates: []CandidateNode{}, Replacements: []NodeClaimPlan{},
	}
	dest := destinations(cmd.Results)
	for _, r := range cmd.Replacements {
		// As plan's NodeClaims: the overlays that changed its type, and what the provider launches.
		plan := nodeClaimPlan(r.NodeClaim)
		d.sim.annotate(&plan, r.NodeClaim)
		out.Replacements = append(out.Replacements, plan)
	}
	for i := range out.Replacements {
		for _, p := range out.Replacements[i].Pods {
			if _, ok := dest[p]; ok {
				dest[p] = fmt.Sprintf("replacement %d (%s)", i+1, out.Replacements[i].InstanceType)
			}
		}
	}
	for _, c := range cmd.Candidates {
		cn := CandidateNode{
			Node: c.Name(), NodePool: c.NodePool.Name, PricePerHour: c.Price, Pods: []PodMove{},
			InstanceType: c.Labels()[corev1.LabelInstanceTypeStable], Zone: c.Labels()[corev1.LabelTopologyZone],
			CapacityType: c.Labels()[karpv1.CapacityTypeLabelKey],
		}
		if c.NodeClaim != nil {
			cn.NodeClaim = c.NodeClaim.Name
		}
		pods, _ := c.Pods(d.ctx, d.sim.client)
		for _, p := range pods {
			if podutils.IsReschedulable(p) {
				cn.Pods = append(cn.Pods, PodMove{Pod: podName(p), To: cmp.Or(dest[podName(p)], "unplaced")})
			}
		}
		sort.Slice(cn.Pods, func(a, b int) bool { return cn.Pods[a].Pod < cn.Pods[b].Pod })
		out.Candidates = append(out.Candidates, cn)
		out.SavingsPerHour += c.Price
	}
	for _, r := range out.Replacements {
		out.SavingsPerHour -= r.PricePerHour
	}
	return out
}

// destinations maps each pod of a scheduling simulation to where it lands: an existing node's name,
// or "new" for a new NodeClaim (named by the replacement it becomes).
func destinations(r scheduler.Results) map[string]string {
	out := map[string]string{}
	for _, nc := range r.NewNodeClaims {
		for _, p := range nc.Pods {
			out[podName(p)] = "new"
		}
	}
	for _, en := range r.ExistingNodes {
		for _, p := range en.Pods {
			out[podName(p)] = en.Name()
		}
	}
	return out
}

func hasReschedulable(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if podutils.IsReschedulable(p) {
			return true
		}
	}
	return false
}

// managedNodes are the state nodes Karpenter manages (a NodeClaim, or its NodePool label), by name.
func managedNodes(nodes state.StateNodes) []*state.StateNode {
	var out []*state.StateNode
	for _, n := range nodes {
		if n.NodeClaim != nil || n.Labels()[karpv1.NodePoolLabelKey] != "" {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name() < out[b].Name() })
	return out
}

func countKarpenterNodes(snap *Snapshot) int {
	n := len(snap.NodeClaims)
	if n > 0 {
		return n
	}
	for _, node := range snap.Nodes {
		if node.Labels[karpv1.NodePoolLabelKey] != "" {
			n++
		}
	}
	return n
}

// disruptionSnapshot applies --ignore-consolidate-after (every NodeClaim Consolidatable) to copies of
// the NodeClaims, and warns when NodeClaims carry no status conditions (read from files without
// their status), so that Consolidatable and Drifted are unknown.
func disruptionSnapshot(snap *Snapshot, opts DisruptOptions) (*Snapshot, []Warning) {
	var bare []string
	out := *snap
	out.NodeClaims = make([]*karpv1.NodeClaim, 0, len(snap.NodeClaims))
	for _, nc := range snap.NodeClaims {
		if len(nc.Status.Conditions) == 0 {
			bare = append(bare, nc.Name)
		}
		if opts.IgnoreConsolidateAfter {
			nc = nc.DeepCopy()
			nc.StatusConditions().SetTrue(karpv1.ConditionTypeConsolidatable)
		}
		out.NodeClaims = append(out.NodeClaims, nc)
	}
	var warnings []Warning
	if len(bare) > 0 && !opts.IgnoreConsolidateAfter {
		warnings = append(warnings, Warning{Message: fmt.Sprintf(
			"%d NodeClaims carry no status conditions (e.g. %s): whether they are Consolidatable or Drifted is unknown, so Karpenter's methods skip them; --ignore-consolidate-after treats them as Consolidatable",
			len(bare), bare[0])})
	}
	return &out, warnings
}

// reasons are the disruption reasons budgets are kept for.
var reasons = []karpv1.DisruptionReason{karpv1.DisruptionReasonEmpty, karpv1.DisruptionReasonDrifted, karpv1.DisruptionReasonUnderutilized}

// budgets reports, per NodePool and reason, what Karpenter's budget functions allow now
// (NodePoolStatsFromNodes and NodePoolBudgetMap, which BuildDisruptionBudgetMapping is made of), with
// the nodes counted, those already disrupting and the budgets active now.
func (d *disrupter) budgets(nodes state.StateNodes) []Budget {
	pools := make(map[string]*karpv1.NodePool, len(d.sim.nodePools))
	for _, np := range d.sim.nodePools {
		pools[np.Name] = np
	}
	var out []Budget
	for _, reason := range reasons {
		numNodes, disrupting := disruption.NodePoolStatsFromNodes(nodes, reason)
		allowed := disruption.NodePoolBudgetMap(d.ctx, d.clock, pools, numNodes, disrupting, reason)
		for _, np := range d.sim.nodePools {
			b := Budget{NodePool: np.Name, Reason: string(reason), Allowed: allowed[np.Name], Nodes: numNodes[np.Name], Disrupting: disrupting[np.Name], Active: []string{}}
			for _, budget := range np.Spec.Disruption.Budgets {
				if !appliesTo(budget, reason) {
					continue
				}
				if active, err := budget.IsActive(d.clock); err == nil && active {
					b.Active = append(b.Active, describeBudget(budget))
				}
			}
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].NodePool < out[b].NodePool })
	return out
}

func appliesTo(b karpv1.Budget, reason karpv1.DisruptionReason) bool {
	return len(b.Reasons) == 0 || slices.Contains(b.Reasons, reason)
}

func describeBudget(b karpv1.Budget) string {
	s := "nodes: " + b.Nodes
	if b.Schedule != nil {
		s += fmt.Sprintf(" (schedule %q", *b.Schedule)
		if b.Duration != nil {
			s += " for " + b.Duration.Duration.String()
		}
		s += ")"
	}
	return s
}

// staying gives every Karpenter node that no command disrupts one reason, in Karpenter's words where
// its events gave them.
func (d *disrupter) staying(nodes []*state.StateNode, cmds []DisruptionCommand, budgets []Budget) []NodeStay {
	allowed := map[string]int{}
	for _, b := range budgets {
		allowed[b.NodePool+"/"+b.Reason] = b.Allowed
	}
	disrupted := map[string]bool{}
	for _, c := range cmds {
		for _, cn := range c.Candidates {
			disrupted[cn.Node] = true
		}
	}
	var out []NodeStay
	for _, n := range nodes {
		if disrupted[n.Name()] {
			continue
		}
		s := NodeStay{Node: n.Name(), NodePool: n.Labels()[karpv1.NodePoolLabelKey]}
		if n.NodeClaim != nil {
			s.NodeClaim = n.NodeClaim.Name
		}
		s.Reason, s.Source = d.stayReason(n, len(cmds) > 0, allowed)
		out = append(out, s)
	}
	return out
}

func (d *disrupter) stayReason(n *state.StateNode, commanded bool, allowed map[string]int) (string, string) {
	nc, nodeName := "", ""
	if n.NodeClaim != nil {
		nc = n.NodeClaim.Name
	}
	if n.Node != nil {
		nodeName = n.Node.Name
	}
	notes := d.sim.recorder.notes(nodeName, nc)
	// Why it is no candidate at all (Karpenter's DisruptionBlocked) comes first.
	for _, note := range notes {
		if note.reason == events.DisruptionBlocked {
			return note.message, "karpenter"
		}
	}
	if n.NodeClaim == nil {
		return "no NodeClaim: Karpenter does not disrupt a node it has no NodeClaim for", "karpctl"
	}
	var np *karpv1.NodePool
	for _, p := range d.sim.nodePools {
		if p.Name == n.Labels()[karpv1.NodePoolLabelKey] {
			np = p
		}
	}
	if np == nil {
		return fmt.Sprintf("its NodePool %q is not one Karpenter provisions with (see the warnings)", n.Labels()[karpv1.NodePoolLabelKey]), "karpctl"
	}
	reason := karpv1.DisruptionReasonUnderutilized
	if c := n.NodeClaim.StatusConditions().Get(karpv1.ConditionTypeDrifted); c != nil && c.IsTrue() {
		reason = karpv1.DisruptionReasonDrifted
	} else if !hasReschedulable(d.sim.client.podsByNode[n.Name()]) {
		reason = karpv1.DisruptionReasonEmpty
	}
	if left, ok := allowed[np.Name+"/"+string(reason)]; ok && left == 0 {
		return fmt.Sprintf("NodePool %q's disruption budgets allow no %s disruptions now", np.Name, reason), "karpctl"
	}
	// Then why consolidation passed it over (Karpenter's Unconsolidatable).
	if len(notes) > 0 {
		return notes[0].message, "karpenter"
	}
	if c := n.NodeClaim.StatusConditions().Get(karpv1.ConditionTypeConsolidatable); reason != karpv1.DisruptionReasonDrifted && (c == nil || !c.IsTrue()) {
		return notConsolidatable(n.NodeClaim, np, c, d.clock.Now()), "karpctl"
	}
	if commanded {
		return "not evaluated further: Karpenter executes one disruption command at a time and looks at this node again after it", "karpctl"
	}
	return "Karpenter found neither a deletion nor a cheaper replacement for it", "karpctl"
}

// notConsolidatable explains a NodeClaim that is not (yet) Consolidatable: Karpenter marks it so once
// consolidateAfter has passed since its last pod event (or its initialization).
func notConsolidatable(nc *karpv1.NodeClaim, np *karpv1.NodePool, c *status.Condition, now time.Time) string {
	after := np.Spec.Disruption.ConsolidateAfter.Duration
	if after == nil {
		return fmt.Sprintf("NodePool %q has consolidation disabled (consolidateAfter: Never)", np.Name)
	}
	since := nc.Status.LastPodEventTime.Time
	if since.IsZero() {
		if init := nc.StatusConditions().Get(karpv1.ConditionTypeInitialized); init != nil && init.IsTrue() {
			since = init.LastTransitionTime.Time
		}
	}
	msg := fmt.Sprintf("not Consolidatable yet (consolidateAfter %s", after)
	if !since.IsZero() {
		if left := since.Add(*after).Sub(now); left > 0 {
			msg += fmt.Sprintf(", %s left", left.Round(time.Second))
		} else {
			msg += ", due now: Karpenter marks it on its next pass"
		}
	}
	msg += ")"
	if c == nil {
		msg += "; the NodeClaim has no Consolidatable condition"
	}
	return msg
}

func disruptTotals(r *DisruptResult, karpenterNodes int) DisruptTotals {
	t := DisruptTotals{KarpenterNodes: karpenterNodes, Staying: len(r.Staying)}
	if len(r.Commands) > 0 {
		first := r.Commands[0]
		t.Disrupted = len(first.Candidates)
		t.Replacements = len(first.Replacements)
		t.SavingsPerHour = first.SavingsPerHour
	}
	return t
}
