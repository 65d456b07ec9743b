package explain

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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
