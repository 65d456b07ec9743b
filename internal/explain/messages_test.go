package explain

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// A label the NodePool never mentions: Karpenter reads it as "Exists" but the NodePool does not
// allow it; the message says so and the change adds the requirement, which then schedules the pod.
func TestExplainRequirementUndefinedLabel(t *testing.T) {
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool")}, PendingPods: []*corev1.Pod{pod("p", "1", selecting("team", "a"))}}
	e := explainPod(t, snap, "p")
	v := verdictOf(t, e, "pool")
	if v.Verdict != VerdictBlocked || !slices.Equal(kinds(v.Reasons), []Kind{Requirement}) {
		t.Fatalf("verdict %+v, want blocked by the team requirement", v)
	}
	r := v.Reasons[0]
	if strings.Contains(r.Message, "allows team Exists") || !strings.Contains(r.Message, "neither defines nor allows label team") {
		t.Errorf("message %q", r.Message)
	}
	if !strings.Contains(r.Change, "add the requirement team In [a] to the NodePool template") {
		t.Errorf("change %q", r.Change)
	}
	if !r.Apply(snap.PendingPods[0], snap.NodePools[0]) {
		t.Fatal("change not applicable")
	}
	if e := explainPod(t, snap, "p"); e.Outcome.Kind != OutcomeNewNodeClaim {
		t.Fatalf("after the change: %+v", e.Outcome)
	}
}

// Resources: only what the pod requests, in cores and Gi; when no type the NodeClass offers is large
// enough, it says so instead of asking for larger types.
func TestExplainResourcesNoTypeLargeEnough(t *testing.T) {
	huge := func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("5000Gi")
	}
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool")}, PendingPods: []*corev1.Pod{pod("p", "500m", huge)}}
	r := onlyReason(t, explainPod(t, snap, "p"), Resources)
	for _, want := range []string{"no instance type offered is large enough: the largest, ", "the pod requests cpu 0.5, memory 5000Gi (no DaemonSet overhead)"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	for _, not := range []string{"pods", "gpu", "500m", "Ki"} {
		if strings.Contains(r.Message, not) {
			t.Errorf("message %q has %q", r.Message, not)
		}
	}
	if strings.Contains(r.Change, "larger instance types") || !strings.HasPrefix(r.Change, "lower the pod's requests to fit ") {
		t.Errorf("change %q", r.Change)
	}
}

// Resources where the NodePool's requirements exclude the types that would fit: allow them.
func TestExplainResourcesAllowLargerTypes(t *testing.T) {
	small := requiring(req(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "c-2x-amd64-linux", "c-4x-amd64-linux"))
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", small)}, PendingPods: []*corev1.Pod{pod("p", "6")}}
	r := onlyReason(t, explainPod(t, snap, "p"), Resources)
	if !strings.Contains(r.Message, "the largest compatible instance type, c-4x-amd64-linux, has allocatable cpu ") ||
		!strings.Contains(r.Message, "the pod requests cpu 6, memory 1Gi") {
		t.Errorf("message %q", r.Message)
	}
	if !strings.HasPrefix(r.Change, "allow larger instance types in the NodePool (c-8x-") || !strings.Contains(r.Change, "would fit") {
		t.Errorf("change %q", r.Change)
	}
}

// onlyReason is the one reason of NodePool pool, which must be of kind k.
func onlyReason(t *testing.T, e *PodExplanation, k Kind) Reason {
	t.Helper()
	v := verdictOf(t, e, "pool")
	if v.Verdict != VerdictBlocked || !slices.Equal(kinds(v.Reasons), []Kind{k}) {
		t.Fatalf("verdict %+v, want blocked by %s alone", v, k)
	}
	t.Logf("%s: %s; change: %s", k, v.Reasons[0].Message, v.Reasons[0].Change)
	return v.Reasons[0]
}

// MinValues: the pod narrows the NodePool to one instance family, the NodePool asks for two; the
// change, sized by Karpenter's SatisfiesMinValues, is to lower it to 1, which then schedules.
func TestExplainMinValuesSized(t *testing.T) {
	two := 2
	family := req(catalog.KwokInstanceFamilyLabel, corev1.NodeSelectorOpExists)
	family.MinValues = &two
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", requiring(family))},
		PendingPods: []*corev1.Pod{pod("p", "1", selecting(catalog.KwokInstanceFamilyLabel, "c"))}}
	r := onlyReason(t, explainPod(t, snap, "p"), MinValues)
	if r.Key != catalog.KwokInstanceFamilyLabel || !strings.Contains(r.Message, "minValues 2 on karpenter.kwok.sh/instance-family, but they span 1 (min-values-policy Strict)") {
		t.Errorf("key %q, message %q", r.Key, r.Message)
	}
	if !strings.HasPrefix(r.Change, "lower minValues on karpenter.kwok.sh/instance-family to ≤ 1 ") {
		t.Errorf("change %q", r.Change)
	}
	one := 1
	snap.NodePools[0].Spec.Template.Spec.Requirements[len(snap.NodePools[0].Spec.Template.Spec.Requirements)-1].MinValues = &one
	if e := explainPod(t, snap, "p"); e.Outcome.Kind != OutcomeNewNodeClaim {
		t.Fatalf("with minValues 1: %+v", e.Outcome)
	}
}

// Topology: a zone spread (maxSkew 1) with one matching pod in test-zone-a and none in test-zone-b,
// whose only node is full; the NodePool launches only in test-zone-a, where the pod would make the
// skew 2. Relaxing the spread lets the pod schedule; the message carries the counts and the change
// names the zone.
func TestExplainTopology(t *testing.T) {
	full := node("full-b", "pool", "c-1x-amd64-linux", "1")
	full.Labels[corev1.LabelTopologyZone] = "test-zone-b"
	web := pod("web-0", "1")
	web.Labels["app"], web.Spec.NodeName, web.Status.Phase = "web", "busy-a", corev1.PodRunning
	filler := bound(pod("filler", "1"), "full-b")
	spread := func(p *corev1.Pod) {
		p.Labels["app"] = "web"
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
			WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	}
	snap := &engine.Snapshot{
		NodePools: []*karpv1.NodePool{nodePool("pool", requiring(req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a")))},
		Nodes:     []*corev1.Node{node("busy-a", "pool", "c-4x-amd64-linux", "4"), full}, Pods: []*corev1.Pod{web, filler},
		PendingPods: []*corev1.Pod{pod("p", "1", spread)},
	}
	r := onlyReason(t, explainPod(t, snap, "p"), Topology)
	for _, want := range []string{"spread on topology.kubernetes.io/zone (maxSkew 1) over pods app=web", "test-zone-b has 0, test-zone-a has 1",
		"the NodePool launches in topology.kubernetes.io/zone test-zone-a"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("message %q lacks %q", r.Message, want)
		}
	}
	if r.Key != corev1.LabelTopologyZone || !strings.HasPrefix(r.Change, "allow the NodePool topology.kubernetes.io/zone test-zone-b (0 matching pods)") {
		t.Errorf("key %q, change %q", r.Key, r.Change)
	}
	// Without the spread's selector matching web-0, the skew is met: the counts are what blocks.
	snap.Pods[0].Labels["app"] = "other"
	if e := explainPod(t, snap, "p"); !e.Placed() {
		t.Fatalf("without a matching pod in test-zone-a: %+v", e.Outcome)
	}
}

// Affinity and Volume messages carry the keys, the domains and the numbers.
func TestExplainAffinityAndVolumeNumbers(t *testing.T) {
	busy := node("busy-a", "pool", "c-4x-amd64-linux", "4")
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", requiring(req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a")))},
		Nodes: []*corev1.Node{busy}, Pods: []*corev1.Pod{bound(pod("db-0", "1"), "busy-a")},
		PendingPods: []*corev1.Pod{pod("p", "1", antiAffinity("db", corev1.LabelTopologyZone))}}
	r := onlyReason(t, explainPod(t, snap, "p"), Affinity)
	if want := "required anti-affinity on topology.kubernetes.io/zone with pods app=db: test-zone-a has 1; the NodePool launches in topology.kubernetes.io/zone test-zone-a"; !strings.Contains(r.Message, want) {
		t.Errorf("affinity message %q lacks %q", r.Message, want)
	}
	r = onlyReason(t, explainPod(t, volumeCase(), "p"), Volume)
	if want := "claim data is bound to PersistentVolume pv-b, which requires topology.kubernetes.io/zone In [test-zone-b]; the NodePool launches in topology.kubernetes.io/zone test-zone-a"; !strings.Contains(r.Message, want) {
		t.Errorf("volume message %q lacks %q", r.Message, want)
	}
	if r.Change != "allow topology.kubernetes.io/zone test-zone-b in the NodePool, or use a volume where the NodePool launches" {
		t.Errorf("volume change %q", r.Change)
	}
}
