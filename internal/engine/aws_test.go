package engine

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// With the AWS catalog, an EC2NodeClass NodePool is served and pods can select on the AWS labels
// (which Plan registers as well known). A 1-CPU, 1Gi pod pinned to family m5 gets the cheapest m5 that
// fits: m5.large (2 vCPU, 8 GiB).
func TestPlanAWSCatalogLabels(t *testing.T) {
	cat, err := catalog.Named("aws")
	if err != nil {
		t.Fatal(err)
	}
	np := nodePool("default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"))
	np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	snap := &Snapshot{NodePools: []*karpv1.NodePool{np}, PendingPods: []*corev1.Pod{
		pod("m5", "1", "1Gi", withNodeSelector(catalog.AWSInstanceFamilyLabel, "m5")),
	}}
	res, err := Plan(context.Background(), snap, cat, Options{})
	if err != nil {
		t.Fatal(err)
	}
	claims := allClaims(res)
	if len(claims) != 1 || claims[0].InstanceType != "m5.large" {
		t.Fatalf("claims %+v, unschedulable %+v; want one m5.large", claims, res.Unschedulable)
	}
	if z := claims[0].Zone; z[:9] != "us-west-2" {
		t.Errorf("zone %s", z)
	}
}
