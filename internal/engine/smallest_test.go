package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

func readyPool(np *karpv1.NodePool) *karpv1.NodePool {
	np.StatusConditions().SetTrue(status.ConditionReady)
	return np
}

// The first NodePool in Karpenter's order (weight, then name descending) that Karpenter would use,
// and its smallest launchable type by Karpenter's own allocatable: kwok's c-1x-amd64-linux (1 CPU,
// 2 Gi) for linux/amd64; arm64 only gives its arm64 twin; a pool not Ready is passed over.
func TestSmallestLaunchable(t *testing.T) {
	ctx := context.Background()
	amd := readyPool(nodePool("general", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"), req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux")))
	arm := readyPool(nodePool("arm", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"), req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux")))
	w := int32(10)
	arm.Spec.Weight = &w
	notReady := nodePool("zzz-not-ready", req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux"))
	notReady.StatusConditions().SetFalse(status.ConditionReady, "NodeClassNotReady", "not ready")

	got, err := SmallestLaunchable(ctx, nil, []*karpv1.NodePool{amd, notReady, arm}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodePool.Name != "arm" || got.InstanceType != "c-1x-arm64-linux" || got.Catalog != "kwok" {
		t.Fatalf("weighted pool first: %s %s", got.NodePool.Name, got.InstanceType)
	}
	got, err = SmallestLaunchable(ctx, nil, []*karpv1.NodePool{amd, notReady}, []string{"test-zone-a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.NodePool.Name != "general" || got.InstanceType != "c-1x-amd64-linux" || got.Allocatable.Cpu().MilliValue() != 900 {
		t.Fatalf("the not-Ready pool is skipped: %s %s %v", got.NodePool.Name, got.InstanceType, got.Allocatable)
	}
	other := readyPool(nodePool("gcp"))
	other.Spec.Template.Spec.NodeClassRef.Group, other.Spec.Template.Spec.NodeClassRef.Kind = "example.com", "OtherNodeClass"
	// The instance types of a NodePool's nodes can be left out: the next smallest is taken.
	used := func(np *karpv1.NodePool) ([]string, error) { return []string{"c-1x-amd64-linux"}, nil }
	if got, err = SmallestLaunchable(ctx, nil, []*karpv1.NodePool{amd}, nil, used); err != nil || got.InstanceType == "c-1x-amd64-linux" || got.Allocatable.Cpu().MilliValue() < 900 {
		t.Fatalf("excluded: %+v %v", got, err)
	}
	_, err = SmallestLaunchable(ctx, nil, []*karpv1.NodePool{other, notReady}, nil, nil)
	if !errors.Is(err, ErrNoUsableNodePool) || !strings.Contains(err.Error(), "gcp: no embedded instance-type catalog serves its NodeClass OtherNodeClass.example.com/default") ||
		!strings.Contains(err.Error(), "zzz-not-ready: not Ready") {
		t.Fatalf("err %v", err)
	}
}
