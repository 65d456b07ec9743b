package explain

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
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
