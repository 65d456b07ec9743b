package explain

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// claimFor is the NodeClaim Karpenter created for node n, allowing the instance types given.
func claimFor(n *corev1.Node, types ...string) *karpv1.NodeClaim {
	nc := &karpv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name + "-claim", Labels: n.Labels, CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
		Spec: karpv1.NodeClaimSpec{
			NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"},
			Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
				req(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, n.Labels[karpv1.NodePoolLabelKey]),
				req(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, types...),
			},
		},
		Status: karpv1.NodeClaimStatus{ProviderID: n.Spec.ProviderID, NodeName: n.Name, Capacity: n.Status.Capacity, Allocatable: n.Status.Allocatable},
	}
	for _, c := range []string{karpv1.ConditionTypeLaunched, karpv1.ConditionTypeRegistered, karpv1.ConditionTypeInitialized, karpv1.ConditionTypeConsolidatable} {
		nc.StatusConditions().SetTrue(c)
	}
	return nc
}

// A busy node: its type ranks among the options its NodeClaim allowed, its pods are listed
// largest first, and Karpenter's disruption methods let it stay (a pod that cannot move); an
// empty node of the same NodePool is deleted by Emptiness.
func TestExplainNode(t *testing.T) {
	busy, empty := node("busy", "pool", "c-4x-amd64-linux", "4"), node("empty", "pool", "c-4x-amd64-linux", "4")
	big, small := pod("big", "2"), pod("small", "500m")
	big.Spec.NodeName, small.Spec.NodeName = "busy", "busy"
	big.Annotations = map[string]string{karpv1.DoNotDisruptAnnotationKey: "true"}
	np := nodePool("pool")
	np.Spec.Disruption.ConsolidationPolicy = karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized
	np.Spec.Disruption.ConsolidateAfter = karpv1.MustParseNillableDuration("0s")
	np.Spec.Disruption.Budgets = []karpv1.Budget{{Nodes: "100%"}}
	snap := &engine.Snapshot{
		NodePools:  []*karpv1.NodePool{np},
		Nodes:      []*corev1.Node{busy, empty},
		NodeClaims: []*karpv1.NodeClaim{claimFor(busy, "c-8x-amd64-linux", "c-4x-amd64-linux", "c-2x-amd64-linux"), claimFor(empty, "c-4x-amd64-linux")},
		Pods:       []*corev1.Pod{small, big},
	}
	src, err := engine.Sources(snap, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Node(context.Background(), snap, src, "busy", false)
	if err != nil {
		t.Fatal(err)
	}
	if e.NodeClaim != "busy-claim" || e.NodePool != "pool" || e.InstanceType != "c-4x-amd64-linux" || len(e.Requirements) != 2 {
		t.Errorf("node %+v", e)
	}
	if len(e.Options) != 3 || e.Options[0].Name != "c-2x-amd64-linux" || e.Rank != 2 {
		t.Errorf("options %+v rank %d, want c-2x first and the node's c-4x second", e.Options, e.Rank)
	}
	if len(e.Pods) != 2 || e.Pods[0].Pod != "default/big" || e.Requested.Cpu().MilliValue() != 2500 {
		t.Errorf("pods %+v requested %v", e.Pods, e.Requested)
	}
	if e.Disruption.Decision != "stays" || e.Disruption.Reason == "" {
		t.Errorf("busy node disruption %+v, want it to stay with Karpenter's reason", e.Disruption)
	}
	e, err = Node(context.Background(), snap, src, "empty-claim", true)
	if err != nil {
		t.Fatal(err)
	}
	if e.Node != "empty" || e.Disruption.Decision != "delete" || e.Disruption.Method != "Emptiness" {
		t.Errorf("empty node disruption %+v, want Emptiness to delete it", e.Disruption)
	}
	if _, err := Node(context.Background(), snap, src, "nope", false); !errors.Is(err, ErrNodeNotFound) {
		t.Errorf("unknown node: %v", err)
	}
}
