package explain

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// A suspect that does not block is left out: the NodePool's ample cpu limit is relaxed in the
// counterfactual runs like every suspect, but with it kept the pod still schedules.
func TestExplainLeavesOutWhatDoesNotBlock(t *testing.T) {
	snap := &engine.Snapshot{
		NodePools:   []*karpv1.NodePool{nodePool("pool", limited("1000"), tainted("team", "a"))},
		PendingPods: []*corev1.Pod{pod("p", "1")},
	}
	v := verdictOf(t, explainPod(t, snap, "p"), "pool")
	if v.Verdict != VerdictBlocked || !slices.Equal(kinds(v.Reasons), []Kind{Taint}) || v.Alternatives {
		t.Fatalf("verdict %+v, want blocked by the taint alone", v)
	}
}
