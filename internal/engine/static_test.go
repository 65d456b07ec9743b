package engine

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// staticSnapshot: a static NodePool of `replicas` on the kwok catalog with `have` nodes, and a pending
// pod for the dynamic NodePool beside it.
func staticSnapshot(t *testing.T, replicas int64, have int, gates string) *Snapshot {
	t.Helper()
	st := nodePool("static", req(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "c-4x-amd64-linux"))
	st.Spec.Replicas = &replicas
	snap := &Snapshot{NodePools: []*karpv1.NodePool{nodePool("default"), st}, PendingPods: pods(1, "web", "1", "1Gi")}
	for i := range have {
		karpenterNode(t, "static-"+string(rune('a'+i)), "static", "c-4x-amd64-linux", "test-zone-a").add(snap)
	}
	s, err := karpenter.Resolve(context.Background(), karpenter.Input{Overrides: []string{"FEATURE_GATES=" + gates}})
	if err != nil {
		t.Fatal(err)
	}
	snap.Karpenter = s
	return snap
}

// Karpenter's static provisioning controller creates NodeClaims up to spec.replicas, launched as the
// cheapest type the NodePool allows; the static NodePool launches nothing for a pending pod.
func TestPlanStaticNodePoolScalesUp(t *testing.T) {
	res, err := Plan(context.Background(), staticSnapshot(t, 3, 1, "StaticCapacity=true"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Static) != 1 {
		t.Fatalf("static %+v", res.Static)
	}
	st := res.Static[0]
	if st.NodePool != "static" || st.Replicas != 3 || st.NodeClaims != 1 || st.Create != 2 || len(st.Delete) != 0 || st.InstanceType != "c-4x-amd64-linux" || st.PricePerHour <= 0 {
		t.Errorf("static plan %+v, want 2 NodeClaims to create as c-4x-amd64-linux", st)
	}
	for _, np := range res.NodePools {
		if np.Name == "static" {
			t.Errorf("the static NodePool took pending pods: %+v", np)
		}
	}
	if res.Totals.PodsOnNewNodes+res.Totals.PodsOnExistingNodes != 1 { // the static node has room: it is a node like any other
		t.Errorf("the pending pod: %+v", res.Totals)
	}
}

// Its deprovisioning controller deletes NodeClaims down to spec.replicas.
func TestPlanStaticNodePoolScalesDown(t *testing.T) {
	res, err := Plan(context.Background(), staticSnapshot(t, 1, 3, "StaticCapacity=true"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Static) != 1 || res.Static[0].Create != 0 || len(res.Static[0].Delete) != 2 {
		t.Errorf("static %+v, want two of three NodeClaims deleted", res.Static)
	}
}

// A node limit caps what the static controller creates, as Karpenter's ReserveNodeCount does.
func TestPlanStaticNodePoolNodeLimit(t *testing.T) {
	snap := staticSnapshot(t, 5, 1, "StaticCapacity=true")
	snap.NodePools[1].Spec.Limits = map[corev1.ResourceName]resource.Quantity{"nodes": resource.MustParse("3")}
	res, err := Plan(context.Background(), snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Static) != 1 || res.Static[0].Create != 2 {
		t.Errorf("static %+v, want 2 created up to the limit of 3 nodes", res.Static)
	}
}

// With the gate off Karpenter leaves static NodePools alone, and the plan says why.
func TestPlanStaticNodePoolGateOff(t *testing.T) {
	res, err := Plan(context.Background(), staticSnapshot(t, 3, 1, "StaticCapacity=false"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Static) != 0 || !warnedOf(res.Warnings, "static", "StaticCapacity feature gate, which is off") {
		t.Errorf("static %+v, warnings %+v", res.Static, res.Warnings)
	}
}

func warnedOf(ws []Warning, nodePool, text string) bool {
	for _, w := range ws {
		if w.NodePool == nodePool && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}
