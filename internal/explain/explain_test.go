package explain

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// The case users hit: a pod needing 12 CPU on amd64; `general` tolerated but limited to 8 CPU; a
// heavier arm64-only NodePool. Karpenter's own message blames the instance types; the blocking
// constraints are the cpu limit and the architecture.
func acceptance() *engine.Snapshot {
	return &engine.Snapshot{
		NodePools: []*karpv1.NodePool{
			nodePool("general", limited("8"), tainted("team", "a")),
			nodePool("arm", weighted(10), requiring(req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"))),
		},
		PendingPods: []*corev1.Pod{pod("big", "12", selecting(corev1.LabelArchStable, "amd64"), tolerating("team", "a"))},
	}
}

func TestExplainLimitAndArchitecture(t *testing.T) {
	e := explainPod(t, acceptance(), "big")
	if e.Outcome.Kind != OutcomeUnschedulable || e.Placed() {
		t.Fatalf("outcome %+v, want Unschedulable", e.Outcome)
	}
	if got := []string{e.NodePools[0].Name, e.NodePools[1].Name}; !slices.Equal(got, []string{"arm", "general"}) {
		t.Fatalf("order %v, want arm (weight 10) then general", got)
	}
	arm := verdictOf(t, e, "arm")
	if arm.Verdict != VerdictBlocked || !slices.Equal(kinds(arm.Reasons), []Kind{Requirement}) || arm.Reasons[0].Key != corev1.LabelArchStable {
		t.Fatalf("arm %+v, want blocked by the kubernetes.io/arch requirement", arm)
	}
	if c := arm.Reasons[0].Change; c != "allow kubernetes.io/arch amd64 in the NodePool" {
		t.Errorf("arm change %q", c)
	}
	general := verdictOf(t, e, "general")
	if general.Verdict != VerdictBlocked || !slices.Equal(kinds(general.Reasons), []Kind{Limit}) {
		t.Fatalf("general %+v, want blocked by its limit only", general)
	}
	lim := general.Reasons[0]
	// c-16x-amd64-linux is the cheapest kwok type with room for 12 CPU: 0 used + 16 ≤ limit.
	if q := lim.Limits[corev1.ResourceCPU]; q.String() != "16" {
		t.Errorf("limit change %v, want cpu 16", lim.Limits)
	}
	for _, want := range []string{"limits.cpu 8", "use 0, leaving 8", "the pod needs 12", "c-16x-amd64-linux"} {
		if !strings.Contains(lim.Message, want) {
			t.Errorf("limit message %q lacks %q", lim.Message, want)
		}
	}
	if lim.Change != "raise limits.cpu to ≥ 16" {
		t.Errorf("limit change %q", lim.Change)
	}
}

// Each suggested change, applied to the objects, makes Karpenter's scheduler place the pod with
// that NodePool in a plan of the whole snapshot.
func TestExplainChangesScheduleWhenApplied(t *testing.T) {
	e := explainPod(t, acceptance(), "big")
	for _, v := range e.NodePools {
		snap := acceptance()
		for _, r := range v.Reasons {
			i := slices.IndexFunc(snap.NodePools, func(np *karpv1.NodePool) bool { return np.Name == v.Name })
			if !r.Apply(snap.PendingPods[0], snap.NodePools[i]) {
				t.Fatalf("%s: %s change cannot be applied", v.Name, r.Kind)
			}
		}
		res, err := engine.Plan(context.Background(), snap, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		placed := ""
		for _, np := range res.NodePools {
			for _, nc := range np.NodeClaims {
				if slices.Contains(nc.Pods, "default/big") {
					placed = np.Name
				}
			}
		}
		if placed != v.Name {
			t.Errorf("after %s's changes the pod goes to %q, want %s (unschedulable: %+v)", v.Name, placed, v.Name, res.Unschedulable)
		}
	}
}
