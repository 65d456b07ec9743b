package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine/catalog"
)

func kwok(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Named("kwok")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func plan(t testing.TB, snap *Snapshot, opts Options) *Result {
	t.Helper()
	res, err := Plan(context.Background(), snap, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func allClaims(res *Result) []NodeClaimPlan {
	var out []NodeClaimPlan
	for _, np := range res.NodePools {
		out = append(out, np.NodeClaims...)
	}
	return out
}

// Hand-checked: kwok prices are 0.025/vCPU + 0.001/GB on demand; a 1-CPU pod does not fit a 1-vCPU type
// (100m kube-reserved), so the cheapest fit is the 2-vCPU compute type c-2x (4 GiB): 0.05 + 0.00429 =
// 0.054294967296 $/h. Hostname anti-affinity gives each pod its own node.
func TestPlanRequirementsAntiAffinityAndTooBigPod(t *testing.T) {
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{nodePool("default",
			req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a", "test-zone-b"),
			req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"),
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"))},
		PendingPods: append(pods(3, "web", "1", "1Gi", withLabels("app", "web"), withHostnameAntiAffinity("web")),
			pod("huge", "500", "1Gi")),
	}
	res := plan(t, snap, Options{})
	claims := allClaims(res)
	if len(claims) != 3 {
		t.Fatalf("got %d NodeClaims, want 3", len(claims))
	}
	for _, c := range claims {
		if c.InstanceType != "c-2x-amd64-linux" || c.CapacityType != "on-demand" || len(c.Pods) != 1 {
			t.Errorf("claim %+v, want c-2x-amd64-linux on-demand with one pod", c)
		}
		if strings.Join(c.Zones, ",") != "test-zone-a,test-zone-b" {
			t.Errorf("zones %v, want test-zone-a,test-zone-b", c.Zones)
		}
		if c.PricePerHour < 0.0542 || c.PricePerHour > 0.0544 {
			t.Errorf("price %v, want 0.0543", c.PricePerHour)
		}
		if c.CPUFill <= 0.5 || c.CPUFill >= 0.6 {
			t.Errorf("cpu fill %v, want 1000m/1900m", c.CPUFill)
		}
	}
	if res.Totals.NewNodes != 3 || res.Totals.PodsOnNewNodes != 3 || res.Totals.UnschedulablePods != 1 || res.Totals.PendingPods != 4 {
		t.Errorf("totals %+v", res.Totals)
	}
	if len(res.Unschedulable) != 1 || res.Unschedulable[0].Pods[0] != "default/huge" ||
		!strings.Contains(res.Unschedulable[0].Reason, "no instance type has enough resources") || res.Unschedulable[0].Stage != "scheduling" {
		t.Errorf("unschedulable %+v", res.Unschedulable)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "marked Ready: default") {
		t.Errorf("want the file-mode readiness warning, got %+v", res.Warnings)
	}
}

// Six 1-CPU pods spread over three zones with maxSkew 1 on spot: two per zone, each pair on one node.
// Two 1-CPU pods need 2000m + overhead, so the cheapest fit is c-4x at the spot price 0.7 × (0.1 + 0.00859).
func TestPlanZoneSpread(t *testing.T) {
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{nodePool("spot",
			req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a", "test-zone-b", "test-zone-c"),
			req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"),
			req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux"),
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot"))},
		PendingPods: pods(6, "api", "1", "1Gi", withLabels("app", "api"), withZoneSpread("api")),
	}
	res := plan(t, snap, Options{})
	perZone := map[string]int{}
	for _, c := range allClaims(res) {
		if len(c.Zones) != 1 || c.Zone != c.Zones[0] {
			t.Errorf("spread claim not pinned to one zone: %v", c.Zones)
		}
		perZone[c.Zone] += len(c.Pods)
		if c.CapacityType != "spot" || c.InstanceType != "c-4x-amd64-linux" {
			t.Errorf("claim %s %s, want c-4x-amd64-linux spot", c.InstanceType, c.CapacityType)
		}
	}
	if len(perZone) != 3 || perZone["test-zone-a"] != 2 || perZone["test-zone-b"] != 2 || perZone["test-zone-c"] != 2 {
		t.Errorf("pods per zone %v, want 2 in each of a, b, c", perZone)
	}
	if res.Totals.NewNodes != 3 {
		t.Errorf("%d nodes, want 3", res.Totals.NewNodes)
	}
}

// A tainted arm64 NodePool takes only pods that tolerate it; a node selector on the kwok family label
// picks the kwok family m.
func TestPlanTaintsTolerationsAndNodeSelectors(t *testing.T) {
	tainted := nodePool("arm", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"),
		req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"))
	tainted.Spec.Template.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "arm", Effect: corev1.TaintEffectNoSchedule}}
	weight := int32(10)
	tainted.Spec.Weight = &weight
	def := nodePool("default", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"),
		req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"))
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{def, tainted},
		PendingPods: []*corev1.Pod{
			pod("tolerant", "1", "1Gi", withToleration("dedicated", "arm", corev1.TaintEffectNoSchedule),
				withNodeSelector(corev1.LabelArchStable, "arm64", catalog.KwokInstanceFamilyLabel, "m")),
			pod("plain", "1", "1Gi"),
		},
	}
	res := plan(t, snap, Options{})
	if res.NodePools[0].Name != "arm" {
		t.Errorf("NodePools not in weight order: %s first", res.NodePools[0].Name)
	}
	got := map[string]string{}
	for _, np := range res.NodePools {
		for _, c := range np.NodeClaims {
			for _, p := range c.Pods {
				got[p] = np.Name + ":" + c.InstanceType
			}
		}
	}
	if got["default/tolerant"] != "arm:m-2x-arm64-linux" {
		t.Errorf("tolerant pod -> %q, want arm:m-2x-arm64-linux; %+v", got["default/tolerant"], res.Unschedulable)
	}
	if got["default/plain"] != "default:c-2x-amd64-linux" {
		t.Errorf("plain pod -> %q, want default:c-2x-amd64-linux", got["default/plain"])
	}
}

func TestPlanNodePoolWarningsAndErrors(t *testing.T) {
	ec2 := nodePool("aws")
	ec2.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	snap := &Snapshot{NodePools: []*karpv1.NodePool{ec2, nodePool("ok")}, PendingPods: pods(1, "p", "1", "1Gi")}
	res := plan(t, snap, Options{})
	if !hasWarning(res, "aws", "NodeClassReady=False, NodeClassNotFound: NodeClass not found on cluster") {
		t.Errorf("no warning for the EC2NodeClass pool without its EC2NodeClass: %+v", res.Warnings)
	}
	gcp := nodePool("gcp")
	gcp.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.gcp", Kind: "GCENodeClass", Name: "default"}
	res = plan(t, &Snapshot{NodePools: []*karpv1.NodePool{gcp, nodePool("ok")}, PendingPods: pods(1, "p", "1", "1Gi")}, Options{})
	if !hasWarning(res, "gcp", "no instance types for its nodeClassRef GCENodeClass.karpenter.k8s.gcp/default") {
		t.Errorf("no warning for the GCENodeClass pool: %+v", res.Warnings)
	}

	_, err := Plan(context.Background(), &Snapshot{NodePools: []*karpv1.NodePool{ec2}, PendingPods: pods(1, "p", "1", "1Gi")}, Options{})
	if !errors.Is(err, ErrNoUsableNodePool) || !strings.Contains(err.Error(), "EC2NodeClass") {
		t.Errorf("want ErrNoUsableNodePool naming EC2NodeClass, got %v", err)
	}
	_, err = Plan(context.Background(), &Snapshot{PendingPods: pods(1, "p", "1", "1Gi")}, Options{})
	if !errors.Is(err, ErrNoUsableNodePool) {
		t.Errorf("no NodePools: want ErrNoUsableNodePool, got %v", err)
	}

	// Live: a NodePool reported NotReady is skipped with a warning; one without conditions is assumed Ready.
	notReady := nodePool("broken")
	notReady.StatusConditions().SetFalse(karpv1.ConditionTypeNodeClassReady, "NodeClassNotReady", "EC2NodeClass not found")
	live := &Snapshot{Live: true, NodePools: []*karpv1.NodePool{notReady, nodePool("fresh")}, PendingPods: pods(1, "p", "1", "1Gi")}
	res = plan(t, live, Options{})
	if !hasWarning(res, "broken", "not Ready") || !hasWarning(res, "fresh", "no Ready condition") {
		t.Errorf("live warnings %+v", res.Warnings)
	}
	if len(res.NodePools) != 1 || res.NodePools[0].Name != "fresh" {
		t.Errorf("plan used %+v, want only fresh", res.NodePools)
	}
	if notReady.StatusConditions().Get(status.ConditionReady).IsTrue() {
		t.Error("Plan modified the snapshot's NodePool")
	}

	// Requirements that match nothing in the catalog.
	s390 := nodePool("s390", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "s390x"))
	_, err = Plan(context.Background(), &Snapshot{NodePools: []*karpv1.NodePool{s390}, PendingPods: pods(1, "p", "1", "1Gi")}, Options{})
	if !errors.Is(err, ErrNoUsableNodePool) || !strings.Contains(err.Error(), "match no instance type") {
		t.Errorf("want ErrNoUsableNodePool for unmatched requirements, got %v", err)
	}
}

func hasWarning(res *Result, nodePool, text string) bool {
	for _, w := range res.Warnings {
		if w.NodePool == nodePool && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}

func TestPlanMissingPVCIsReported(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{nodePool("default")}, PendingPods: []*corev1.Pod{pod("db", "1", "1Gi", withPVC("data-db"))}}
	res := plan(t, snap, Options{})
	if len(res.Unschedulable) != 1 || res.Unschedulable[0].Stage != "validation" || !strings.Contains(res.Unschedulable[0].Reason, "data-db") {
		t.Fatalf("unschedulable %+v, want the missing PVC reported at validation", res.Unschedulable)
	}
	if res.Totals.NewNodes != 0 {
		t.Errorf("launched %d nodes for an invalid pod", res.Totals.NewNodes)
	}
}

func readyNode(name, zone, pool string, cpu, mem string) *corev1.Node {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			corev1.LabelTopologyZone: zone, corev1.LabelHostname: name, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		}},
		Status: corev1.NodeStatus{Capacity: alloc, Allocatable: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	if pool != "" {
		n.Labels[karpv1.NodePoolLabelKey] = pool
	}
	return n
}

func TestPlanZoneDownAndExistingNodes(t *testing.T) {
	np := nodePool("default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
		req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))
	nodeA := readyNode("static-a", "test-zone-a", "", "8", "32Gi")
	bound := pod("running", "1", "1Gi")
	bound.Spec.NodeName = "static-a"
	snap := &Snapshot{
		NodePools:   []*karpv1.NodePool{np},
		Nodes:       []*corev1.Node{nodeA},
		Pods:        []*corev1.Pod{bound},
		PendingPods: pods(4, "spread", "1", "1Gi", withLabels("app", "s"), withZoneSpread("s"), withHostnameAntiAffinity("s")),
	}
	res := plan(t, snap, Options{})
	inA := 0
	for _, c := range allClaims(res) {
		if c.Zone == "test-zone-a" {
			inA++
		}
	}
	if len(res.ExistingNodes) != 1 || res.ExistingNodes[0].Node != "static-a" || len(res.ExistingNodes[0].Pods) != 1 {
		t.Errorf("existing placements %+v, want one spread pod on static-a", res.ExistingNodes)
	}
	if inA != 0 || res.Totals.NewNodes != 3 {
		t.Errorf("baseline: %d new nodes, %d in zone a; want 3 new nodes in b, c, d", res.Totals.NewNodes, inA)
	}

	down := plan(t, snap, Options{ZonesDown: []string{"test-zone-a"}})
	if strings.Join(down.ZonesDown, ",") != "test-zone-a" || len(down.ExistingNodes) != 0 {
		t.Errorf("zone down result: %+v", down)
	}
	pending := 0
	for _, c := range allClaims(down) {
		if c.Zone == "test-zone-a" || strings.Contains(strings.Join(c.Zones, ","), "test-zone-a") {
			t.Errorf("claim in the zone that is down: %+v", c)
		}
		pending += len(c.Pods)
	}
	if down.Totals.PendingPods != 5 || pending+down.Totals.UnschedulablePods != 5 {
		t.Errorf("zone down: %d pending (want 5: the bound pod moved), %d placed", down.Totals.PendingPods, pending)
	}
	if _, err := Plan(context.Background(), snap, Options{ZonesDown: []string{"mars-1"}}); err == nil {
		t.Error("unknown zone accepted")
	}
}

// A zone named twice is the same what-if as once: it used to be checked against the catalog with
// the zone already removed and rejected as unknown. Zones are checked against the catalog as given.
func TestPlanZoneDownTwice(t *testing.T) {
	np := nodePool("default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
		req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))
	bound := pod("running", "1", "1Gi")
	bound.Spec.NodeName = "static-a"
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{np},
		Nodes:     []*corev1.Node{readyNode("static-a", "test-zone-a", "", "8", "32Gi")},
		Pods:      []*corev1.Pod{bound},
	}
	once := plan(t, snap, Options{ZonesDown: []string{"test-zone-a"}})
	twice := plan(t, snap, Options{ZonesDown: []string{"test-zone-a", "test-zone-b", "test-zone-a"}})
	if got := strings.Join(twice.ZonesDown, ","); got != "test-zone-a,test-zone-b" {
		t.Errorf("zonesDown %q, want test-zone-a,test-zone-b", got)
	}
	if len(twice.ExistingNodes) != 0 || twice.Totals.PendingPods != once.Totals.PendingPods || twice.Totals.PendingPods != 1 {
		t.Errorf("zone down twice: %d existing nodes, %d pending (once: %d); want 0 and 1", len(twice.ExistingNodes), twice.Totals.PendingPods, once.Totals.PendingPods)
	}
	for _, c := range allClaims(twice) {
		for _, z := range append([]string{c.Zone}, c.Zones...) {
			if z == "test-zone-a" || z == "test-zone-b" {
				t.Errorf("claim in a zone that is down: %+v", c)
			}
		}
	}
	// An unknown zone after a known one is reported against every zone the NodePools can launch in.
	_, err := Plan(context.Background(), snap, Options{ZonesDown: []string{"test-zone-a", "mars-1"}})
	want := `unknown zone "mars-1": no usable NodePool can launch there (zones: test-zone-a, test-zone-b, test-zone-c, test-zone-d)`
	if !errors.Is(err, ErrUnknownZone) || err.Error() != want {
		t.Errorf("unknown zone after a known one: %v, want %v", err, want)
	}
}

// Karpenter itself breaks ties between equally good topology domains by map iteration order, so which
// zone gets which group of pods may change between runs; everything else must not. The test compares
// the plan with zones and pod-to-claim assignment reduced to what is invariant.
func TestPlanIsDeterministic(t *testing.T) {
	build := func() *Snapshot {
		var ps []*corev1.Pod
		ps = append(ps, pods(40, "web", "500m", "512Mi", withLabels("app", "web"), withZoneSpread("web"))...)
		ps = append(ps, pods(20, "batch", "2", "6Gi")...)
		ps = append(ps, pods(5, "db", "1", "4Gi", withLabels("app", "db"), withHostnameAntiAffinity("db"))...)
		return &Snapshot{NodePools: []*karpv1.NodePool{nodePool("default")}, PendingPods: ps}
	}
	canonical := func(res *Result) string {
		var parts []string
		for _, c := range allClaims(res) {
			parts = append(parts, fmt.Sprintf("%s/%s/%.6f/%d pods/%d zones/%d options", c.InstanceType, c.CapacityType, c.PricePerHour, len(c.Pods), len(c.Zones), c.OtherInstanceTypes))
		}
		sort.Strings(parts)
		b, _ := json.Marshal(res.Totals)
		return strings.Join(parts, "\n") + "\n" + string(b)
	}
	first := canonical(plan(t, build(), Options{}))
	for i := 1; i < 4; i++ {
		if got := canonical(plan(t, build(), Options{})); got != first {
			t.Fatalf("run %d differs from run 0:\n%s\n---\n%s", i, first, got)
		}
	}
}

// Karpenter ignores, without an event, pods that must not run on its nodes (its own replicas require
// karpenter.sh/nodepool DoesNotExist). The plan says so instead of dropping them.
func TestPlanReportsPodsKarpenterIgnores(t *testing.T) {
	avoid := func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: karpv1.NodePoolLabelKey, Operator: corev1.NodeSelectorOpDoesNotExist}}}},
		}}}
	}
	snap := &Snapshot{NodePools: []*karpv1.NodePool{nodePool("default")}, PendingPods: []*corev1.Pod{pod("controller", "1", "1Gi", avoid), pod("web", "1", "1Gi")}}
	res := plan(t, snap, Options{})
	if res.Totals.PodsOnNewNodes != 1 || res.Totals.UnschedulablePods != 1 || len(res.Unschedulable) != 1 {
		t.Fatalf("totals %+v, unschedulable %+v", res.Totals, res.Unschedulable)
	}
	g := res.Unschedulable[0]
	if g.Stage != "ignored" || !strings.Contains(g.Reason, "karpenter.sh/nodepool DoesNotExist") || len(g.Pods) != 1 || !strings.HasSuffix(g.Pods[0], "controller") {
		t.Fatalf("group %+v", g)
	}
	if n := res.Totals.PodsOnNewNodes + res.Totals.PodsOnExistingNodes + res.Totals.UnschedulablePods; n != res.Totals.PendingPods {
		t.Fatalf("%d of %d pending pods accounted for", n, res.Totals.PendingPods)
	}
}

// A pending pod whose node affinity names a label Karpenter reserves (kubernetes.io/hostname) is
// refused by Karpenter's validation; plan lists it with Karpenter's own words and launches nothing.
func TestPlanRestrictedLabelIsReported(t *testing.T) {
	p := pod("pinned", "500m", "512Mi", func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"n-1"}}}}}}}}
	})
	res := plan(t, &Snapshot{NodePools: []*karpv1.NodePool{nodePool("default")}, PendingPods: []*corev1.Pod{p}}, Options{})
	if len(res.Unschedulable) != 1 || res.Unschedulable[0].Stage != "validation" || res.Unschedulable[0].Pods[0] != "default/pinned" ||
		!strings.Contains(res.Unschedulable[0].Reason, "using label kubernetes.io/hostname is not allowed as it might interfere with the internal provisioning logic") {
		t.Fatalf("unschedulable %+v, want Karpenter's restricted-label refusal", res.Unschedulable)
	}
	if res.Totals.NewNodes != 0 {
		t.Errorf("launched %d nodes for a refused pod", res.Totals.NewNodes)
	}
}
