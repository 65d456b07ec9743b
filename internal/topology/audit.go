package topology

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Well-known labels.
const (
	ZoneLabel          = corev1.LabelTopologyZone
	HostnameLabel      = corev1.LabelHostname
	NodePoolLabel      = karpv1.NodePoolLabelKey
	RegisteredLabel    = karpv1.NodeRegisteredLabelKey
	NodeClaimKind      = "NodeClaim"
	SystemClusterCrit  = "system-cluster-critical"
	systemNodeCritical = "system-node-critical"
)

// The standby floor of the operator's checklist: a standby may run with 0.5 CPU and 512Mi.
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
	// FailOn is the least severity that fails the audit (--fail-on); "" never fails it.
	FailOn Severity
	// ChunkSize is the page size of the node inventory's list (--chunk-size); 0 is 500.
	ChunkSize int64
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

// Evaluate audits in against o. It reads nothing but in and the clock (the lease's age decides
// whether it is held), and changes nothing.
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
		RackLabels: o.RackLabels, FailOn: o.FailOn, Placements: []Placement{}, Findings: []Finding{},
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
