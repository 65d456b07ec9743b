package topology

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// Where the replicas run: eligible nodes, placements, replica count and readiness, zones, hosts and
// racks, and what survives the loss of a zone.

func (a *audit) livePlacement() (bool, string) {
	switch {
	case !a.in.PodsRead:
		return false, "no pods: offline audit without a pod dump (give pods in -f and nodes with --nodes-file)"
	case len(a.active) == 0:
		return false, "no Karpenter pods exist"
	}
	return true, ""
}

func (a *audit) node(name string) *corev1.Node { return a.nodes[name] }

// eligible indexes the inventory by name (nodes) and fills EligibleZones and eligibleNodes from it:
// the nodes the replicas may use are those that are not Karpenter's and match the template's node
// selector and required node affinity by labels (taints are not in metadata, so they are not
// considered); a zone is eligible when it has such a node. Without the inventory nodes stays nil and
// eligibleNodes -1 (unknown).
func (a *audit) eligible() {
	a.eligibleNodes = -1
	if !a.in.InventoryRead {
		return
	}
	a.nodes = make(map[string]*corev1.Node, len(a.in.Inventory))
	aff := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: a.template.Spec})
	zones := map[string]bool{}
	n := 0
	for _, m := range a.in.Inventory {
		node := &corev1.Node{ObjectMeta: m.ObjectMeta}
		if _, dup := a.nodes[m.Name]; !dup {
			a.nodes[m.Name] = node
		}
		if KarpenterManaged(m.Labels, m.OwnerReferences) {
			continue
		}
		if ok, err := aff.Match(node); err != nil || !ok {
			continue
		}
		n++
		if z := m.Labels[ZoneLabel]; z != "" {
			zones[z] = true
		}
	}
	a.r.EligibleZones, a.eligibleNodes = sortedKeys(zones), n
}

func (a *audit) placements() {
	var st lease.Status
	if a.in.LeaseRead && a.in.Lease != nil {
		pods := make([]corev1.Pod, 0, len(a.active))
		for _, p := range a.active {
			pods = append(pods, *p)
		}
		st = lease.Evaluate(lease.Input{Lease: a.in.Lease, Pods: pods, Nodes: a.nodes, Now: time.Now()})
		if st.Holder != nil && st.Holder.Pod != "" && st.Verdict != lease.Expired {
			a.r.Leader = st.Holder.Pod
		}
	}
	if a.k.LeaderElectionDisabled && len(a.active) == 1 {
		a.r.Leader = a.active[0].Name
	}
	for _, p := range a.active {
		pl := Placement{Pod: p.Name, Phase: string(p.Status.Phase), Ready: discovery.PodReady(p), Node: p.Spec.NodeName}
		switch {
		case p.Spec.NodeName == "":
			pl.Role = "pending"
			pl.PendingReason = unschedulableMessage(p)
		case a.k.LeaderElectionDisabled:
			pl.Role = "leader"
		case a.r.Leader == p.Name:
			pl.Role = "leader"
		case a.r.Leader != "":
			pl.Role = "follower"
		default:
			pl.Role = "unknown"
		}
		if n := a.node(p.Spec.NodeName); n != nil {
			pl.Zone = n.Labels[ZoneLabel]
			pl.Rack = a.rackOf(n)
			pl.KarpenterManaged = KarpenterManaged(n.Labels, n.OwnerReferences)
			if a.o.SystemNodes != nil {
				sys := a.o.SystemNodes.Matches(labels.Set(n.Labels))
				pl.SystemNode = &sys
			}
		}
		if pl.Ready {
			a.r.Replicas.Ready++
		}
		if pl.Role == "pending" {
			a.r.Replicas.Pending++
		}
		a.r.Placements = append(a.r.Placements, pl)
	}
}

func (a *audit) rackOf(n *corev1.Node) string {
	for _, l := range a.o.RackLabels {
		if v, ok := n.Labels[l]; ok && v != "" {
			return v
		}
	}
	return ""
}

func (a *audit) replicas() {
	want := a.o.Profile.WantReplicas()
	if a.desired >= want {
		return
	}
	msg := fmt.Sprintf("%d replica(s) desired; the %s profile wants %d", a.desired, a.o.Profile, want)
	if a.o.Profile == ProfileCritical {
		msg += " across zones"
	}
	fix := fmt.Sprintf("set replicas: %d (Helm: --set replicas=%d); Karpenter elects one leader, the others stand by for failover", want, want)
	if a.desired == 0 {
		msg = "the Deployment is scaled to 0: no Karpenter runs"
	}
	a.add("replicas-below-profile", msg, fix, "")
}

func (a *audit) readiness() {
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckReadiness, why)
		return
	}
	eligible := a.eligibleNodes
	for _, pl := range a.r.Placements {
		if pl.Role != "pending" {
			continue
		}
		reason := pl.PendingReason
		if reason == "" {
			reason = "not scheduled yet"
		}
		fix := "read `kubectl describe pod` events; the scheduler's FailedScheduling message names the blocking rule"
		switch {
		case eligible >= 0 && int32(eligible) < a.desired && a.hostAntiAffinity:
			fix = fmt.Sprintf("only %d node(s) outside Karpenter's own nodes match the template and required anti-affinity allows one replica per node; Karpenter never launches nodes for itself: add a node outside Karpenter (e.g. a managed node group), ideally in another zone", eligible)
		case strings.Contains(reason, "Insufficient"):
			fix = "no node outside Karpenter's own nodes has room for the requests; Karpenter never launches nodes for itself: grow the non-Karpenter node group or lower the requests"
		case strings.Contains(reason, "node affinity") || strings.Contains(reason, "node selector"):
			fix = "no node outside Karpenter's own nodes matches the node affinity; Karpenter never launches nodes for itself: add matching nodes outside Karpenter"
		}
		a.add("replica-pending", fmt.Sprintf("replica %s is Pending: %s", pl.Pod, reason), fix, "Pod "+a.r.Namespace+"/"+pl.Pod)
	}
	unready := a.desired - int32(a.r.Replicas.Ready) - int32(a.r.Replicas.Pending)
	if unready > 0 {
		a.add("replicas-not-ready", fmt.Sprintf("%d of %d desired replicas are ready (%d pending)", a.r.Replicas.Ready, a.desired, a.r.Replicas.Pending),
			"check the pods' readiness probes and restarts (kubectl karpctl lease shows each replica's phase)", "")
	}
}

func (a *audit) readyPlaced() []Placement {
	var out []Placement
	for _, pl := range a.r.Placements {
		if pl.Ready && pl.Node != "" {
			out = append(out, pl)
		}
	}
	return out
}

func (a *audit) zones() {
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckZones, why)
		return
	}
	if a.nodes == nil {
		a.skip(CheckZones, "nodes not read")
		return
	}
	ready := a.readyPlaced()
	zones := map[string]bool{}
	var unlabeled []string
	for _, pl := range ready {
		if pl.Zone == "" {
			unlabeled = append(unlabeled, pl.Pod)
			continue
		}
		zones[pl.Zone] = true
	}
	switch {
	case len(ready) == 0:
		a.skip(CheckZones, "no ready replica")
		return
	case len(zones) == 0:
		a.skip(CheckZones, "the replicas' nodes carry no "+ZoneLabel+" label")
		return
	}
	eligible := len(a.r.EligibleZones)
	names := strings.Join(sortedKeys(zones), ", ")
	if len(ready) >= 2 && len(zones) == 1 {
		if eligible == 1 {
			a.add("zones-unavailable", fmt.Sprintf("all %d ready replicas run in zone %s, the only zone with eligible nodes", len(ready), names),
				"add nodes outside Karpenter in a second zone so a zone outage does not stop provisioning", "")
		} else {
			a.add("zones-single", fmt.Sprintf("all %d ready replicas run in zone %s: losing it stops Karpenter", len(ready), names),
				"add a required topologySpreadConstraint on topology.kubernetes.io/zone (maxSkew 1, DoNotSchedule) and delete one replica so it reschedules into another zone", "")
		}
		return
	}
	if a.o.Profile != ProfileCritical {
		return
	}
	want := 3
	if eligible >= 0 && eligible < want {
		want = eligible
	}
	if len(zones) < want {
		a.add("zones-below-profile", fmt.Sprintf("ready replicas span %d zone(s) (%s); the critical profile wants %d (zones with eligible nodes: %s)", len(zones), names, want, orNone(strings.Join(a.r.EligibleZones, ", "))),
			fmt.Sprintf("run at least %d replicas with a zone topologySpreadConstraint (maxSkew 1, DoNotSchedule) so each zone holds one", want), "")
	}
}

func (a *audit) hosts() {
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckHosts, why)
		return
	}
	byNode := map[string][]string{}
	for _, pl := range a.r.Placements {
		if pl.Node != "" {
			byNode[pl.Node] = append(byNode[pl.Node], pl.Pod)
		}
	}
	for _, n := range sortedKeys(byNode) {
		if pods := byNode[n]; len(pods) > 1 {
			a.add("hosts-shared", fmt.Sprintf("%d replicas run on node %s (%s): losing that node stops Karpenter", len(pods), n, strings.Join(pods, ", ")),
				"add required podAntiAffinity on kubernetes.io/hostname selecting the Karpenter pods, then delete one of these replicas", "Node "+n)
		}
	}
}

func (a *audit) racks() {
	if len(a.o.RackLabels) == 0 {
		a.skip(CheckRacks, "no --rack-label given")
		return
	}
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckRacks, why)
		return
	}
	if a.nodes == nil {
		a.skip(CheckRacks, "nodes not read")
		return
	}
	racks := map[string][]string{}
	var without []string
	placed := 0
	for _, pl := range a.r.Placements {
		if pl.Node == "" || a.node(pl.Node) == nil {
			continue
		}
		placed++
		if pl.Rack == "" {
			without = append(without, pl.Node)
			continue
		}
		racks[pl.Rack] = append(racks[pl.Rack], pl.Pod)
	}
	labelList := strings.Join(a.o.RackLabels, ", ")
	if len(racks) == 0 {
		a.skip(CheckRacks, "no replica's node carries "+labelList)
		a.add("racks-unknown", fmt.Sprintf("could not check rack spread: no node running a replica carries the label %s (this is not a pass)", labelList),
			"label the nodes with their rack (or pass the label your nodes use with --rack-label)", "")
		return
	}
	if len(without) > 0 {
		a.add("racks-unknown", fmt.Sprintf("could not place node(s) %s in a rack: no %s label", strings.Join(uniq(without), ", "), labelList),
			"label every node with its rack", "")
	}
	if len(racks) == 1 && placed >= 2 && len(without) == 0 {
		for rack, pods := range racks {
			a.add("racks-shared", fmt.Sprintf("all %d replicas run in rack %s (%s): a rack failure stops Karpenter", len(pods), rack, strings.Join(pods, ", ")),
				fmt.Sprintf("add a topologySpreadConstraint (or required podAntiAffinity) on %s", a.o.RackLabels[0]), "")
		}
	}
}

// loss fills the zone- and host-loss what-ifs over ready replicas.
func (a *audit) loss() {
	ready := a.readyPlaced()
	if ok, _ := a.livePlacement(); !ok || len(ready) == 0 {
		return
	}
	leaderZone, leaderNode := "", ""
	for _, pl := range ready {
		if pl.Pod == a.r.Leader {
			leaderZone, leaderNode = pl.Zone, pl.Node
		}
	}
	zones := map[string]bool{}
	for _, z := range a.r.EligibleZones {
		zones[z] = true
	}
	nodes := map[string]bool{}
	for _, pl := range ready {
		if pl.Zone != "" {
			zones[pl.Zone] = true
		}
		nodes[pl.Node] = true
	}
	scenario := func(domain string, in func(Placement) bool, leaderHere bool) LossScenario {
		s := LossScenario{Domain: domain}
		for _, pl := range ready {
			if in(pl) {
				s.Replicas++
			}
		}
		s.Remaining = len(ready) - s.Replicas
		if a.r.Leader != "" && !a.k.LeaderElectionDisabled {
			l := leaderHere
			s.LeaderLost = &l
		}
		switch {
		case s.Remaining == 0:
			s.Outcome = "outage"
		case s.LeaderLost != nil && *s.LeaderLost:
			s.Outcome = "failover"
		case s.Replicas > 0:
			s.Outcome = "degraded"
		default:
			s.Outcome = "unaffected"
		}
		return s
	}
	for _, z := range sortedKeys(zones) {
		a.r.ZoneLoss = append(a.r.ZoneLoss, scenario(z, func(p Placement) bool { return p.Zone == z }, leaderZone == z && z != ""))
	}
	for _, n := range sortedKeys(nodes) {
		a.r.HostLoss = append(a.r.HostLoss, scenario(n, func(p Placement) bool { return p.Node == n }, leaderNode == n))
	}
}

func unschedulableMessage(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			if c.Message != "" {
				return c.Reason + ": " + strings.Join(strings.Fields(c.Message), " ")
			}
			return c.Reason
		}
	}
	return ""
}
