package topology

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/karpctl/karpctl/internal/harness"
)

// scenario builds live inputs: nodes n-<zone><i> in zones a, b, c, plus kp-a (Karpenter-managed).
type scenario struct {
	in Input
}

func node(name, zone string, extra map[string]string) *corev1.Node {
	l := map[string]string{ZoneLabel: zone, HostnameLabel: name}
	for k, v := range extra {
		l[k] = v
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func newScenario(d *appsv1.Deployment, nodes ...*corev1.Node) *scenario {
	if len(nodes) == 0 {
		nodes = []*corev1.Node{node("a1", "zone-a", nil), node("a2", "zone-a", nil), node("b1", "zone-b", nil), node("c1", "zone-c", nil),
			node("kp-a", "zone-a", map[string]string{NodePoolLabel: "default"})}
	}
	s := &scenario{in: Input{Mode: "live", Deployment: d, PodsRead: true, InventoryRead: true, PDBsRead: true, FlowSchemasRead: true, LeaseRead: true}}
	for _, n := range nodes {
		s.in.Inventory = append(s.in.Inventory, metav1.PartialObjectMetadata{ObjectMeta: n.ObjectMeta})
	}
	return s
}

// pod adds a ready replica on node (or a Pending one when node is "").
func (s *scenario) pod(name, node string) *scenario {
	d := s.in.Deployment
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: name, Labels: d.Spec.Template.Labels}, Spec: *d.Spec.Template.Spec.DeepCopy()}
	p.Spec.NodeName = node
	if node == "" {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
			Message: "0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 4 node(s) didn't match pod anti-affinity rules."}}
	} else {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	s.in.Pods = append(s.in.Pods, p)
	return s
}

func (s *scenario) leader(pod string) *scenario {
	id := pod + "_0d5e2a7c-1111-2222-3333-444455556666"
	now := metav1.NewMicroTime(metav1.Now().Time)
	dur := int32(15)
	s.in.Lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: s.in.Deployment.Namespace, Name: "karpenter-leader-election"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, RenewTime: &now, AcquireTime: &now, LeaseDurationSeconds: &dur}}
	return s
}

func (s *scenario) pdb(p *policyv1.PodDisruptionBudget) *scenario {
	s.in.PDBs = append(s.in.PDBs, *p)
	return s
}

func chart(ns string) *appsv1.Deployment {
	return harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns})
}

func ids(r Report, sev Severity) []string {
	var out []string
	for _, f := range r.Findings {
		if sev == "" || f.Severity == sev {
			out = append(out, f.ID)
		}
	}
	return out
}

func count(r Report, id string) int {
	n := 0
	for _, f := range r.Findings {
		if f.ID == id {
			n++
		}
	}
	return n
}

func chartDefault() *scenario {
	return newScenario(chart("kube-system")).pod("karpenter-1", "a1").pod("karpenter-2", "b1").leader("karpenter-1").pdb(harness.KarpenterPDB("kube-system"))
}

func TestChartDefaultBasicHasNoErrorsOrWarnings(t *testing.T) {
	r := Evaluate(chartDefault().in, Options{Profile: ProfileBasic})
	if e := ids(r, Error); len(e) > 0 {
		t.Fatalf("errors under basic: %v", e)
	}
	if w := ids(r, Warning); len(w) > 0 {
		t.Fatalf("warnings under basic: %v", w)
	}
	if r.Leader != "karpenter-1" || r.Replicas.Ready != 2 || r.Summary.Verdict != "pass" {
		t.Fatalf("leader %q ready %d verdict %s", r.Leader, r.Replicas.Ready, r.Summary.Verdict)
	}
	if got := strings.Join(r.EligibleZones, ","); got != "zone-a,zone-b,zone-c" {
		t.Fatalf("eligible zones %s", got)
	}
	// Chart default leaves DISABLE_CONTROLLER_WARMUP at its default (true): an info.
	if count(r, "warmup-disabled") != 1 {
		t.Fatalf("want warmup info, got %v", ids(r, ""))
	}
	zl := map[string]LossScenario{}
	for _, z := range r.ZoneLoss {
		zl[z.Domain] = z
	}
	if a := zl["zone-a"]; a.Remaining != 1 || a.LeaderLost == nil || !*a.LeaderLost || a.Outcome != "failover" {
		t.Fatalf("zone-a loss: %+v", a)
	}
	if b := zl["zone-b"]; b.Remaining != 1 || *b.LeaderLost || b.Outcome != "degraded" {
		t.Fatalf("zone-b loss: %+v", b)
	}
	if c := zl["zone-c"]; c.Remaining != 2 || c.Outcome != "unaffected" {
		t.Fatalf("zone-c loss: %+v", c)
	}
	if len(r.HostLoss) != 2 {
		t.Fatalf("host loss %+v", r.HostLoss)
	}
	if c, _ := r.Check(CheckRacks); c.Status != Skipped {
		t.Fatalf("racks without --rack-label: %+v", c)
	}
}

func TestChartDefaultCriticalWantsThreeReplicasInThreeZones(t *testing.T) {
	r := Evaluate(chartDefault().in, Options{Profile: ProfileCritical})
	if count(r, "replicas-below-profile") != 1 || count(r, "zones-below-profile") != 1 {
		t.Fatalf("findings %v", ids(r, ""))
	}
	for _, f := range r.Findings {
		if f.Severity == Error && f.Remediation == "" {
			t.Fatalf("no remediation: %+v", f)
		}
	}
	// Only two zones have eligible nodes: critical wants min(3, 2) = 2 zones, which two replicas meet.
	s := newScenario(chart("kube-system"), node("a1", "zone-a", nil), node("b1", "zone-b", nil), node("kp-c", "zone-c", map[string]string{NodePoolLabel: "x"})).
		pod("karpenter-1", "a1").pod("karpenter-2", "b1").pdb(harness.KarpenterPDB("kube-system"))
	r = Evaluate(s.in, Options{Profile: ProfileCritical})
	if count(r, "zones-below-profile") != 0 || count(r, "replicas-below-profile") != 1 {
		t.Fatalf("two eligible zones: %v", ids(r, ""))
	}
}

func TestPlacementErrors(t *testing.T) {
	cases := map[string]struct {
		nodes []string
		want  string
	}{
		"same host":        {[]string{"a1", "a1"}, "hosts-shared"},
		"same zone":        {[]string{"a1", "a2"}, "zones-single"},
		"karpenter's node": {[]string{"kp-a", "b1"}, "isolation-karpenter-node"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			s := newScenario(chart("kube-system")).pod("karpenter-1", c.nodes[0]).pod("karpenter-2", c.nodes[1]).leader("karpenter-1").pdb(harness.KarpenterPDB("kube-system"))
			r := Evaluate(s.in, Options{})
			if count(r, c.want) != 1 {
				t.Fatalf("want one %s, got %v", c.want, ids(r, ""))
			}
			for _, f := range r.Findings {
				if f.ID == c.want && (f.Severity != Error || f.Remediation == "") {
					t.Fatalf("%+v", f)
				}
			}
		})
	}
}

func TestSpecWarningsEachOnce(t *testing.T) {
	scheduleAnyway := chart("kube-system")
	scheduleAnyway.Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
	noAnti := chart("kube-system")
	noAnti.Spec.Template.Spec.Affinity.PodAntiAffinity = nil
	noPrio := chart("kube-system")
	noPrio.Spec.Template.Spec.PriorityClassName = ""
	noReq := chart("kube-system")
	noReq.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	noSpread := chart("kube-system")
	noSpread.Spec.Template.Spec.TopologySpreadConstraints = nil
	cases := []struct {
		name string
		d    *appsv1.Deployment
		pdb  bool
		want string
	}{
		{"no pdb", chart("kube-system"), false, "pdb-missing"},
		{"no spread", noSpread, true, "spread-missing"},
		{"schedule anyway", scheduleAnyway, true, "spread-schedule-anyway"},
		{"no anti-affinity", noAnti, true, "anti-affinity-missing"},
		{"no priority class", noPrio, true, "priority-class-missing"},
		{"no requests", noReq, true, "requests-missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScenario(c.d).pod("karpenter-1", "a1").pod("karpenter-2", "b1").leader("karpenter-1")
			if c.pdb {
				s.pdb(harness.KarpenterPDB("kube-system"))
			}
			r := Evaluate(s.in, Options{})
			if w := ids(r, Warning); len(w) != 1 || w[0] != c.want {
				t.Fatalf("want exactly [%s], got %v", c.want, w)
			}
			if len(ids(r, Error)) != 0 {
				t.Fatalf("errors: %v", ids(r, Error))
			}
		})
	}
}

func TestBareDeploymentFindings(t *testing.T) {
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "kube-system", Bare: true})
	r := Evaluate(newScenario(d).pod("k-1", "a1").pod("k-2", "b1").in, Options{})
	for _, id := range []string{"pdb-missing", "spread-missing", "anti-affinity-missing", "priority-class-missing", "requests-missing", "isolation-node-affinity"} {
		if count(r, id) != 1 {
			t.Errorf("%s: %d findings (all: %v)", id, count(r, id), ids(r, ""))
		}
	}
	// No lease read → roles unknown, zone loss cannot say whether the leader goes.
	for _, z := range r.ZoneLoss {
		if z.LeaderLost != nil {
			t.Fatalf("leader unknown but zone loss says %v", *z.LeaderLost)
		}
	}
}

func TestResources(t *testing.T) {
	d := chart("kube-system")
	c := &d.Spec.Template.Spec.Containers[0]
	c.Resources.Requests[corev1.ResourceCPU] = mustQ("250m")
	c.Resources.Requests[corev1.ResourceMemory] = mustQ("256Mi")
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: mustQ("1Gi")}
	r := Evaluate(newScenario(d).in, Options{})
	if count(r, "requests-below-standby-floor") != 1 || count(r, "memory-limit-differs") != 1 {
		t.Fatalf("%v", ids(r, ""))
	}
	for _, f := range r.Findings {
		if f.ID == "requests-below-standby-floor" && !strings.Contains(f.Message, "one Deployment template serves the leader and the standbys") {
			t.Fatalf("message does not explain the shared template: %s", f.Message)
		}
	}
}

func TestRacks(t *testing.T) {
	rack := "example.com/rack"
	nodes := []*corev1.Node{node("a1", "zone-a", map[string]string{rack: "r1"}), node("b1", "zone-b", map[string]string{rack: "r1"}), node("c1", "zone-c", map[string]string{rack: "r2"})}
	s := newScenario(chart("kube-system"), nodes...).pod("k-1", "a1").pod("k-2", "b1").pdb(harness.KarpenterPDB("kube-system"))
	r := Evaluate(s.in, Options{RackLabels: []string{rack}})
	if c, _ := r.Check(CheckRacks); c.Status != Failed || count(r, "racks-shared") != 1 {
		t.Fatalf("same rack: %+v %v", c, ids(r, ""))
	}
	s = newScenario(chart("kube-system"), nodes...).pod("k-1", "a1").pod("k-2", "c1").pdb(harness.KarpenterPDB("kube-system"))
	r = Evaluate(s.in, Options{RackLabels: []string{rack}})
	if c, _ := r.Check(CheckRacks); c.Status != Passed || r.Placements[1].Rack != "r2" {
		t.Fatalf("two racks: %+v %+v", c, r.Placements)
	}
	r = Evaluate(s.in, Options{RackLabels: []string{"example.com/no-such-label"}})
	if c, _ := r.Check(CheckRacks); c.Status != Skipped || count(r, "racks-unknown") != 1 {
		t.Fatalf("absent label must be 'could not check', got %+v %v", c, ids(r, ""))
	}
}

func TestPendingReplicaExplained(t *testing.T) {
	s := newScenario(chart("kube-system"), node("a1", "zone-a", nil), node("kp-b", "zone-b", map[string]string{NodePoolLabel: "default"})).
		pod("k-1", "a1").pod("k-2", "").leader("k-1").pdb(harness.KarpenterPDB("kube-system"))
	r := Evaluate(s.in, Options{})
	if r.Replicas.Pending != 1 || count(r, "replica-pending") != 1 || count(r, "replicas-not-ready") != 0 {
		t.Fatalf("%+v %v", r.Replicas, ids(r, ""))
	}
	for _, f := range r.Findings {
		if f.ID == "replica-pending" && (!strings.Contains(f.Message, "anti-affinity") || !strings.Contains(f.Remediation, "Karpenter never launches nodes for itself") || !strings.Contains(f.Remediation, "only 1 node(s)")) {
			t.Fatalf("%+v", f)
		}
	}
}

func TestElection(t *testing.T) {
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "kube-system", Env: map[string]string{"DISABLE_LEADER_ELECTION": "true"}})
	r := Evaluate(newScenario(d).pdb(harness.KarpenterPDB("kube-system")).in, Options{})
	if count(r, "leader-election-disabled") != 1 || count(r, "warmup-disabled") != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
	d = harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "kube-system", Env: map[string]string{"DISABLE_CONTROLLER_WARMUP": "false"}})
	if r = Evaluate(newScenario(d).in, Options{}); count(r, "warmup-disabled") != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
}

func TestFlowSchema(t *testing.T) {
	s := newScenario(chart("karpenter"))
	s.in.Deployment.Spec.Template.Spec.ServiceAccountName = "karpenter"
	if r := Evaluate(s.in, Options{}); count(r, "flowschema-missing") != 1 {
		t.Fatalf("%v", ids(r, ""))
	}
	s.in.FlowSchemas = []flowcontrolv1.FlowSchema{{ObjectMeta: metav1.ObjectMeta{Name: "karpenter-leader-election"}, Spec: flowcontrolv1.FlowSchemaSpec{Rules: []flowcontrolv1.PolicyRulesWithSubjects{{
		Subjects: []flowcontrolv1.Subject{{Kind: flowcontrolv1.SubjectKindServiceAccount, ServiceAccount: &flowcontrolv1.ServiceAccountSubject{Namespace: "karpenter", Name: "karpenter"}}},
	}}}}}
	if r := Evaluate(s.in, Options{}); count(r, "flowschema-missing")+count(r, "flowschema-unknown") != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
	s.in.FlowSchemas, s.in.FlowSchemasRead, s.in.FlowSchemasErr = nil, false, "listing FlowSchemas: Forbidden"
	r := Evaluate(s.in, Options{})
	if c, _ := r.Check(CheckFlowSchema); count(r, "flowschema-unknown") != 1 || c.Status != Skipped {
		t.Fatalf("%+v %v", c, ids(r, ""))
	}
	// kube-system: covered by the built-in FlowSchemas.
	if r := Evaluate(newScenario(chart("kube-system")).in, Options{}); count(r, "flowschema-missing") != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
}

func TestPDBBlocksDrain(t *testing.T) {
	zero := intstr.FromInt32(0)
	two := intstr.FromInt32(2)
	for name, mod := range map[string]func(*policyv1.PodDisruptionBudget){
		"maxUnavailable 0":        func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = &zero },
		"minAvailable = replicas": func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable, p.Spec.MinAvailable = nil, &two },
	} {
		p := harness.KarpenterPDB("kube-system")
		mod(p)
		r := Evaluate(newScenario(chart("kube-system")).pdb(p).in, Options{})
		if count(r, "pdb-blocks-drain") != 1 || count(r, "pdb-missing") != 0 {
			t.Fatalf("%s: %v", name, ids(r, ""))
		}
	}
}

func TestSystemNodes(t *testing.T) {
	sys := map[string]string{"node-role/system": "true"}
	s := newScenario(chart("kube-system"), node("s1", "zone-a", sys), node("b1", "zone-b", nil)).pod("k-1", "s1").pod("k-2", "b1").pdb(harness.KarpenterPDB("kube-system"))
	s.in.NodePodsRead = true
	s.in.NodePods = map[string][]corev1.Pod{
		"s1": {s.in.Pods[0], {ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}}, {ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns-1"}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: "node-exporter-x", OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "node-exporter"}}}}},
		"b1": {s.in.Pods[1]},
	}
	r := Evaluate(s.in, Options{SystemNodes: labels.SelectorFromSet(sys)})
	if count(r, "isolation-outside-system-nodes") != 1 || count(r, "isolation-shared-with-workloads") != 1 {
		t.Fatalf("%v", ids(r, ""))
	}
	for _, f := range r.Findings {
		if f.ID == "isolation-shared-with-workloads" && (!strings.Contains(f.Message, "shop/web-1") || strings.Contains(f.Message, "coredns") || strings.Contains(f.Message, "node-exporter")) {
			t.Fatalf("%s", f.Message)
		}
	}
}

func TestOfflineWithoutPodsSkipsPlacement(t *testing.T) {
	in := Input{Mode: "offline", Deployment: chart("kube-system"), PDBs: []policyv1.PodDisruptionBudget{*harness.KarpenterPDB("kube-system")}, PDBsRead: true}
	r := Evaluate(in, Options{RackLabels: []string{"rack"}})
	for _, c := range []string{CheckReadiness, CheckZones, CheckHosts, CheckRacks, CheckIsolation} {
		if got, _ := r.Check(c); got.Status != Skipped || got.Reason == "" {
			t.Errorf("%s: %+v", c, got)
		}
	}
	if len(ids(r, Error))+len(ids(r, Warning)) != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
}

// Offline with pods but no --nodes-file: the node-dependent checks say the nodes were not given,
// not that the nodes lack zone or rack labels (and no racks-unknown finding is made up).
func TestOfflinePodsWithoutNodes(t *testing.T) {
	s := newScenario(chart("kube-system")).pod("k-1", "a1").pod("k-2", "b1").pdb(harness.KarpenterPDB("kube-system"))
	s.in.Mode, s.in.Inventory, s.in.InventoryRead, s.in.LeaseRead, s.in.FlowSchemasRead = "offline", nil, false, false, false
	r := Evaluate(s.in, Options{RackLabels: []string{"rack"}})
	for _, c := range []string{CheckZones, CheckRacks, CheckIsolation} {
		if got, _ := r.Check(c); got.Status != Skipped || got.Reason != "nodes not read" {
			t.Errorf("%s: %+v", c, got)
		}
	}
	if n := count(r, "racks-unknown"); n != 0 {
		t.Errorf("racks-unknown without nodes: %v", ids(r, ""))
	}
}

func TestEveryRuleIsDocumentedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules {
		if seen[r.ID] || r.Short == "" || r.Check == "" || r.Severity.Rank() == 0 {
			t.Fatalf("bad rule %+v", r)
		}
		seen[r.ID] = true
	}
}

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }
