package engine

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// A simulation scheduled again for one pod and one changed NodePool leaves the plan of the whole
// snapshot as engine.Plan makes it.
func TestSimulationRerunsOverTheSameState(t *testing.T) {
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{nodePool("default", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))},
		PendingPods: append(pods(3, "web", "1", "1Gi", withLabels("app", "web"), withHostnameAntiAffinity("web")),
			pod("arm", "1", "1Gi", withNodeSelector(corev1.LabelArchStable, "arm64"))),
	}
	want, _ := json.Marshal(plan(t, snap, Options{}))
	sim, err := NewSimulation(context.Background(), snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	np := sim.NodePools()[0].DeepCopy()
	np.Spec.Template.Spec.Requirements = nil
	one, err := sim.Schedule([]*corev1.Pod{snap.PendingPods[3]}, []*karpv1.NodePool{np})
	if err != nil {
		t.Fatal(err)
	}
	if one.Totals.PendingPods != 1 || one.Totals.NewNodes != 1 || one.NodePools[0].NodeClaims[0].Pods[0] != "default/arm" {
		t.Fatalf("one-pod run with arm64 allowed: %+v", one.Totals)
	}
	again, err := sim.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(again); string(got) != string(want) {
		t.Errorf("plan after a counterfactual run differs:\n%s\nwant\n%s", got, want)
	}
}
