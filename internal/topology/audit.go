package topology

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// Well-known labels.
const (
	ZoneLabel          = corev1.LabelTopologyZone
	HostnameLabel      = corev1.LabelHostname
	NodePoolLabel      = "karpenter.sh/nodepool"
	RegisteredLabel    = "karpenter.sh/registered"
	NodeClaimKind      = "NodeClaim"
	SystemClusterCrit  = "system-cluster-critical"
	systemNodeCritical = "system-node-critical"
)

// The seed's standby floor: a standby may run with 0.5 CPU and 512Mi.
var (
	StandbyCPUFloor    = resource.MustParse("500m")
	StandbyMemoryFloor = resource.MustParse("512Mi")
)

// Options are the audit's knobs.
type Options struct {
	Profile Profile
	// RackLabels are node labels naming a rack (--rack-label); the first a node carries is used.
	RackLabels []string
	// SystemNodes selects the nodes reserved for system components (--system-node-selector); nil = off.
	SystemNodes labels.Selector
}

// Input is everything Evaluate judges. The *Read flags say which parts were gathered; a part that
// was not gathered makes its checks "skipped", never "passed".
type Input struct {
	// Mode is "live" or "offline".
	Mode       string
	Deployment *appsv1.Deployment

	// Pods are the Deployment's pods (by its selector, one namespace).
	Pods     []corev1.Pod
	PodsRead bool
	// Inventory is every node's metadata (labels, owners): the zone inventory, and where the pods'
	// nodes are looked up. Without it ("nodes not read") the placement checks that need nodes skip.
	Inventory     []metav1.PartialObjectMetadata
	InventoryRead bool

	PDBs     []policyv1.PodDisruptionBudget
	PDBsRead bool

	FlowSchemas     []flowcontrolv1.FlowSchema
	FlowSchemasRead bool
	// FlowSchemasErr says why FlowSchemas could not be read (e.g. forbidden): an info, not an error.
	FlowSchemasErr string

	Lease     *coordinationv1.Lease
	LeaseRead bool

	// NodePods are all pods on each replica's node; read only with Options.SystemNodes.
	NodePods     map[string][]corev1.Pod
	NodePodsRead bool
}

type audit struct {
	in       Input
	o        Options
	k        *discovery.Karpenter
	r        *Report
	obj      string
	desired  int32
	active   []*corev1.Pod // not terminating
	skipped  map[string]string
	template *corev1.PodTemplateSpec
	// nodes is the inventory by name (see eligible); nil when it was not read.
	nodes map[string]*corev1.Node
	// eligibleNodes counts the nodes the replicas may use (see eligible); -1 when unknown.
	eligibleNodes int
	// hostAntiAffinity: the template has a required podAntiAffinity on the hostname label selecting
	// its own pods (hasRequiredHostAntiAffinity).
	hostAntiAffinity bool
}

// Evaluate audits in against o. Pure: the same input gives the same report.
func Evaluate(in Input, o Options) Report {
	if o.Profile == "" {
		o.Profile = ProfileBasic
	}
	d := in.Deployment
	tpl := &d.Spec.Template
	a := &audit{in: in, o: o, k: discovery.FromDeployment(d), skipped: map[string]string{}, template: tpl,
		desired: discovery.DesiredReplicas(d), hostAntiAffinity: hasRequiredHostAntiAffinity(&tpl.Spec, tpl.Labels)}
	a.obj = "Deployment " + d.Namespace + "/" + d.Name
	a.r = &Report{
		SchemaVersion: SchemaVersion, Mode: in.Mode, Profile: o.Profile, Namespace: d.Namespace, Name: d.Name,
		RackLabels: o.RackLabels, Placements: []Placement{}, Findings: []Finding{},
		ZoneLoss: []LossScenario{}, HostLoss: []LossScenario{}, EligibleZones: []string{},
	}
	a.r.Replicas.Desired = a.desired
	for i := range in.Pods {
		if in.Pods[i].DeletionTimestamp == nil {
			a.active = append(a.active, &in.Pods[i])
		}
	}
	a.r.Replicas.Observed = len(a.active)
	a.eligible()
	a.placements()

	a.replicas()
	a.readiness()
	a.zones()
	a.hosts()
	a.racks()
	a.isolation()
	a.systemNodes()
	a.pdb()
	a.spread()
	a.antiAffinity()
	a.priorityClass()
	a.resources()
	a.election()
	a.flowSchema()
	a.loss()
	a.finish()
	return *a.r
}

func (a *audit) add(id, msg, fix, object string) {
	a.addSev(id, "", msg, fix, object)
}

// addSev adds a finding with a severity other than the rule's default (sev "" = default).
func (a *audit) addSev(id string, sev Severity, msg, fix, object string) {
	rule, ok := RuleByID(id)
	if !ok {
		panic("topology: unknown rule " + id)
	}
	if sev == "" {
		sev = rule.Severity
	}
	if object == "" {
		object = a.obj
	}
	a.r.Findings = append(a.r.Findings, Finding{ID: id, Severity: sev, Check: rule.Check, Message: msg, Remediation: fix, Object: object})
}

func (a *audit) skip(check, reason string) { a.skipped[check] = reason }

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

// KarpenterManaged reports whether Karpenter manages a node: the NodePool or registered label, or a
// NodeClaim owner.
func KarpenterManaged(labels map[string]string, owners []metav1.OwnerReference) bool {
	if _, ok := labels[NodePoolLabel]; ok {
		return true
	}
	if _, ok := labels[RegisteredLabel]; ok {
		return true
	}
	for _, o := range owners {
		if o.Kind == NodeClaimKind && strings.HasPrefix(o.APIVersion, "karpenter.sh/") {
			return true
		}
	}
	return false
}

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

func (a *audit) isolation() {
	// Spec half: runs offline too.
	if !requiresNoNodePool(&a.template.Spec) {
		a.add("isolation-node-affinity", "no required nodeAffinity keeps the replicas off nodes Karpenter manages (karpenter.sh/nodepool DoesNotExist)",
			"add to every required nodeSelectorTerm: {key: karpenter.sh/nodepool, operator: DoesNotExist} (the Helm chart's default): Karpenter must not run on nodes it may consolidate away", "")
	}
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckIsolation, why)
		return
	}
	if a.nodes == nil {
		a.skip(CheckIsolation, "nodes not read")
		return
	}
	for _, pl := range a.r.Placements {
		if pl.KarpenterManaged {
			a.add("isolation-karpenter-node", fmt.Sprintf("replica %s runs on node %s, which Karpenter manages: consolidation or expiry can remove the node that runs Karpenter", pl.Pod, pl.Node),
				"add the required nodeAffinity karpenter.sh/nodepool DoesNotExist, then delete this pod so it lands on a node outside Karpenter", "Pod "+a.r.Namespace+"/"+pl.Pod)
		}
	}
}

func (a *audit) systemNodes() {
	if a.o.SystemNodes == nil {
		a.skip(CheckSystemNodes, "no --system-node-selector given")
		return
	}
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckSystemNodes, why)
		return
	}
	sel := a.o.SystemNodes.String()
	for _, pl := range a.r.Placements {
		if pl.SystemNode != nil && !*pl.SystemNode {
			a.add("isolation-outside-system-nodes", fmt.Sprintf("replica %s runs on node %s, outside the system nodes (%s)", pl.Pod, pl.Node, sel),
				fmt.Sprintf("add a required nodeAffinity (or nodeSelector) for %s and a toleration for the system nodes' taint", sel), "Pod "+a.r.Namespace+"/"+pl.Pod)
		}
	}
	if !a.in.NodePodsRead {
		return
	}
	sel2 := a.k.PodSelector
	for _, n := range sortedKeys(a.in.NodePods) {
		var workload []string
		for _, p := range a.in.NodePods[n] {
			if ordinaryWorkload(&p, a.r.Namespace, sel2) {
				workload = append(workload, p.Namespace+"/"+p.Name)
			}
		}
		if len(workload) == 0 {
			continue
		}
		sort.Strings(workload)
		shown := workload
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("and %d more", len(workload)-3))
		}
		a.add("isolation-shared-with-workloads", fmt.Sprintf("node %s runs a Karpenter replica and %d ordinary workload pod(s): %s", n, len(workload), strings.Join(shown, ", ")),
			fmt.Sprintf("keep workloads off the system nodes with a taint (e.g. CriticalAddonsOnly=true:NoSchedule) and schedule Karpenter there with %s", sel), "Node "+n)
	}
}

// ordinaryWorkload: not a system pod (kube-* namespaces, DaemonSet, static/mirror), not Karpenter,
// not finished.
func ordinaryWorkload(p *corev1.Pod, karpenterNS string, karpenterSel labels.Selector) bool {
	if strings.HasPrefix(p.Namespace, "kube-") || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.Namespace == karpenterNS && karpenterSel != nil && karpenterSel.Matches(labels.Set(p.Labels)) {
		return false
	}
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return false
	}
	for _, o := range p.OwnerReferences {
		if o.Kind == "DaemonSet" || o.Kind == "Node" {
			return false
		}
	}
	return true
}

func (a *audit) pdb() {
	if !a.in.PDBsRead {
		a.skip(CheckPDB, "PodDisruptionBudgets not read")
		return
	}
	podLabels := labels.Set(a.template.Labels)
	found := 0
	for _, p := range a.in.PDBs {
		if p.Namespace != "" && p.Namespace != a.r.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil || !sel.Matches(podLabels) {
			continue
		}
		found++
		obj := "PodDisruptionBudget " + a.r.Namespace + "/" + p.Name
		if mu := p.Spec.MaxUnavailable; mu != nil && (mu.String() == "0" || mu.String() == "0%") {
			a.add("pdb-blocks-drain", fmt.Sprintf("PodDisruptionBudget %s has maxUnavailable %s: no replica may ever be evicted, so every node drain hangs", p.Name, mu.String()),
				"set maxUnavailable: 1 (the Helm chart's default)", obj)
		}
		if ma := p.Spec.MinAvailable; ma != nil {
			blocks := ma.String() == "100%"
			if ma.Type == 0 && ma.IntVal >= a.desired {
				blocks = true
			}
			if blocks {
				a.add("pdb-blocks-drain", fmt.Sprintf("PodDisruptionBudget %s has minAvailable %s with %d replica(s): no replica may ever be evicted, so every node drain hangs", p.Name, ma.String(), a.desired),
					"use maxUnavailable: 1 instead (the Helm chart's default)", obj)
			}
		}
	}
	if found == 0 {
		a.add("pdb-missing", "no PodDisruptionBudget selects the Karpenter pods: a drain or upgrade may evict every replica at once",
			"add a PodDisruptionBudget with maxUnavailable: 1 selecting the pods (the Helm chart has podDisruptionBudget enabled by default)", "")
	}
}

func (a *audit) spread() {
	var zone []corev1.TopologySpreadConstraint
	for _, c := range a.template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == ZoneLabel {
			zone = append(zone, c)
		}
	}
	if len(zone) == 0 {
		a.add("spread-missing", "no topologySpreadConstraint on topology.kubernetes.io/zone: the scheduler may put every replica in one zone",
			"add topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: <the pod labels>}]", "")
		return
	}
	for _, c := range zone {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			return
		}
	}
	a.add("spread-schedule-anyway", "the zone topologySpreadConstraint is ScheduleAnyway: a preference, so replicas may still land in one zone",
		"set whenUnsatisfiable: DoNotSchedule on the topology.kubernetes.io/zone constraint", "")
}

func (a *audit) antiAffinity() {
	if a.hostAntiAffinity {
		return
	}
	msg := "no required podAntiAffinity on kubernetes.io/hostname: two replicas may share a node"
	if aa := a.template.Spec.Affinity; aa != nil && aa.PodAntiAffinity != nil && len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		msg += " (a preferred anti-affinity is only a hint)"
	}
	a.add("anti-affinity-missing", msg,
		"add affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: <the pod labels>}]", "")
}

func (a *audit) priorityClass() {
	switch pc := a.template.Spec.PriorityClassName; pc {
	case "":
		a.add("priority-class-missing", "no priorityClassName: under node pressure Karpenter can be preempted or evicted before the workloads it should make room for",
			"set priorityClassName: system-cluster-critical (the Helm chart's default)", "")
	case SystemClusterCrit, systemNodeCritical:
	default:
		a.add("priority-class-other", fmt.Sprintf("priorityClassName is %s; system-cluster-critical is expected", pc),
			"set priorityClassName: system-cluster-critical unless your own class ranks above every workload", "")
	}
}

func (a *audit) resources() {
	c := discovery.ControllerContainer(&a.template.Spec)
	if c == nil {
		a.skip(CheckResources, "the template has no container")
		return
	}
	req := c.Resources.Requests
	lim := c.Resources.Limits
	eff := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := req[name]; ok {
			return q, true
		}
		q, ok := lim[name] // the API server defaults a missing request to the limit
		return q, ok
	}
	cpu, hasCPU := eff(corev1.ResourceCPU)
	mem, hasMem := eff(corev1.ResourceMemory)
	obj := a.obj + " container " + c.Name
	if !hasCPU || !hasMem {
		var missing []string
		if !hasCPU {
			missing = append(missing, "cpu")
		}
		if !hasMem {
			missing = append(missing, "memory")
		}
		a.add("requests-missing", fmt.Sprintf("container %s has no %s request: the leader can be starved or evicted first under node pressure", c.Name, strings.Join(missing, " or ")),
			"set resources.requests (the getting-started guide uses cpu: 1, memory: 1Gi, with limits equal to requests)", obj)
	}
	var low []string
	if hasCPU && cpu.Cmp(StandbyCPUFloor) < 0 {
		low = append(low, "cpu "+cpu.String())
	}
	if hasMem && mem.Cmp(StandbyMemoryFloor) < 0 {
		low = append(low, "memory "+mem.String())
	}
	if len(low) > 0 {
		a.add("requests-below-standby-floor", fmt.Sprintf("container %s requests %s, below even the standby floor (0.5 CPU, 512Mi); one Deployment template serves the leader and the standbys, so the leader gets these requests too", c.Name, strings.Join(low, ", ")),
			"raise requests to at least cpu: 500m, memory: 512Mi (size for the leader: the getting-started guide uses 1 CPU / 1Gi)", obj)
	}
	if hasMem {
		ml, ok := lim[corev1.ResourceMemory]
		switch {
		case !ok:
			a.add("memory-limit-differs", fmt.Sprintf("container %s has no memory limit: Karpenter's GOMEMLIMIT (MEMORY_LIMIT from limits.memory) is unset, and the node may OOM-kill it under pressure", c.Name),
				fmt.Sprintf("set limits.memory equal to the request (%s); one template serves leader and standby, so size it for the leader", mem.String()), obj)
		case ml.Cmp(mem) != 0:
			a.add("memory-limit-differs", fmt.Sprintf("container %s memory limit %s differs from its request %s: the pod is Burstable and may be OOM-killed above the request under node pressure", c.Name, ml.String(), mem.String()),
				"set limits.memory equal to requests.memory; one template serves leader and standby, so size both for the leader", obj)
		}
	}
}

func (a *audit) election() {
	if a.k.LeaderElectionDisabled && a.desired > 1 {
		a.add("leader-election-disabled", fmt.Sprintf("%d replicas with DISABLE_LEADER_ELECTION=true: every replica acts as leader and they fight over the same nodes", a.desired),
			"remove DISABLE_LEADER_ELECTION (default false), or run exactly one replica", "")
	}
	if a.k.WarmupDisabled && !a.k.LeaderElectionDisabled && a.desired > 1 {
		a.add("warmup-disabled", "controller warmup is disabled (DISABLE_CONTROLLER_WARMUP defaults to true): a standby starts its caches only after it wins the lease, so failover is slower",
			"set DISABLE_CONTROLLER_WARMUP=false so standbys pre-populate their caches", "")
	}
}

func (a *audit) flowSchema() {
	ns := a.r.Namespace
	if ns == "kube-system" {
		return // kube-system's service accounts are covered by the built-in system FlowSchemas
	}
	switch {
	case a.in.FlowSchemasErr != "":
		a.skip(CheckFlowSchema, a.in.FlowSchemasErr)
		a.add("flowschema-unknown", "could not check API Priority & Fairness FlowSchemas: "+a.in.FlowSchemasErr,
			"grant list on flowschemas.flowcontrol.apiserver.k8s.io to check, or verify by hand: kubectl get flowschemas", "")
		return
	case !a.in.FlowSchemasRead:
		a.skip(CheckFlowSchema, "FlowSchemas not read (offline: the cluster may have one)")
		return
	}
	sa := a.template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	for _, fs := range a.in.FlowSchemas {
		for _, rule := range fs.Spec.Rules {
			for _, s := range rule.Subjects {
				switch {
				case s.Kind == flowcontrolv1.SubjectKindServiceAccount && s.ServiceAccount != nil &&
					s.ServiceAccount.Namespace == ns && (s.ServiceAccount.Name == sa || s.ServiceAccount.Name == "*"):
					return
				case s.Kind == flowcontrolv1.SubjectKindGroup && s.Group != nil &&
					(s.Group.Name == "system:serviceaccounts:"+ns):
					return
				}
			}
		}
	}
	a.add("flowschema-missing", fmt.Sprintf("Karpenter runs in namespace %s, and no FlowSchema matches its service account %s/%s: under API load its lease renewals queue with ordinary traffic (kube-system is covered by the built-in system FlowSchemas)", ns, ns, sa),
		"apply the FlowSchemas from Karpenter's docs (karpenter-leader-election and karpenter-workload, service account "+ns+"/"+sa+"), or install into kube-system", "")
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

// allChecks lists the check results in report order.
var allChecks = []string{CheckReplicas, CheckReadiness, CheckZones, CheckHosts, CheckRacks, CheckIsolation, CheckIsolationSpec,
	CheckSystemNodes, CheckPDB, CheckSpread, CheckAntiAffinity, CheckPriority, CheckResources, CheckElection, CheckFlowSchema}

func (a *audit) finish() {
	// Stable order: by severity, then by rule order, then object.
	sort.SliceStable(a.r.Findings, func(i, j int) bool {
		fi, fj := a.r.Findings[i], a.r.Findings[j]
		if fi.Severity.Rank() != fj.Severity.Rank() {
			return fi.Severity.Rank() > fj.Severity.Rank()
		}
		return ruleIndex[fi.ID] < ruleIndex[fj.ID]
	})
	worst := map[string]int{}
	for _, f := range a.r.Findings {
		if f.Severity.Rank() > worst[f.Check] {
			worst[f.Check] = f.Severity.Rank()
		}
		switch f.Severity {
		case Error:
			a.r.Summary.Errors++
		case Warning:
			a.r.Summary.Warnings++
		default:
			a.r.Summary.Info++
		}
	}
	for _, c := range allChecks {
		res := CheckResult{Check: c, Status: Passed}
		if why, ok := a.skipped[c]; ok {
			res.Status, res.Reason = Skipped, why
		} else if worst[c] >= Warning.Rank() {
			res.Status = Failed
		}
		a.r.Checks = append(a.r.Checks, res)
	}
	switch {
	case a.r.Summary.Errors > 0:
		a.r.Summary.Verdict = "errors"
	case a.r.Summary.Warnings > 0:
		a.r.Summary.Verdict = "warnings"
	default:
		a.r.Summary.Verdict = "pass"
	}
}

// requiresNoNodePool: every required node selector term excludes karpenter.sh/nodepool nodes.
func requiresNoNodePool(spec *corev1.PodSpec) bool {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		ok := false
		for _, e := range t.MatchExpressions {
			if e.Key == NodePoolLabel && e.Operator == corev1.NodeSelectorOpDoesNotExist {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// hasRequiredHostAntiAffinity: a required anti-affinity term on the hostname label selecting the pods.
func hasRequiredHostAntiAffinity(spec *corev1.PodSpec, podLabels map[string]string) bool {
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		return false
	}
	for _, t := range spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if t.TopologyKey != HostnameLabel || t.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err == nil && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
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

// sortedKeys returns m's keys in order; never nil, so an empty set is JSON [] rather than null.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func uniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
