package aws

import (
	"context"
	"errors"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/utils/resources"
)

func instanceTypes(t *testing.T, nc *awsv1.EC2NodeClass, region string) (map[string]*cloudprovider.InstanceType, []string) {
	t.Helper()
	its, warnings, err := InstanceTypes(testContext(), nc, region)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*cloudprovider.InstanceType{}
	for _, it := range its {
		out[it.Name] = it
	}
	return out, warnings
}

func allocatable(it *cloudprovider.InstanceType) corev1.ResourceList {
	return resources.Subtract(it.Capacity, it.Overhead.Total())
}

func wantQuantity(t *testing.T, it *cloudprovider.InstanceType, list corev1.ResourceList, what corev1.ResourceName, want string) {
	t.Helper()
	got := list[what]
	if got.Cmp(resource.MustParse(want)) != 0 {
		t.Errorf("%s %s = %s, want %s", it.Name, what, got.String(), want)
	}
}

// The values quoted by issue 10 and docs: Karpenter's allocatable for AL2023, no block device mappings.
func TestAllocatableAL2023(t *testing.T) {
	its, _ := instanceTypes(t, al2023(t), "us-east-1")
	m5 := its["m5.large"]
	if m5 == nil {
		t.Fatal("m5.large missing")
	}
	a := allocatable(m5)
	wantQuantity(t, m5, a, corev1.ResourceCPU, "1930m")
	wantQuantity(t, m5, a, corev1.ResourceMemory, "6903Mi")
	wantQuantity(t, m5, a, corev1.ResourcePods, "29")
	wantQuantity(t, m5, a, corev1.ResourceEphemeralStorage, "17Gi")
	a1 := its["a1.medium"]
	if a1 == nil {
		t.Fatal("a1.medium missing")
	}
	wantQuantity(t, a1, allocatable(a1), corev1.ResourceMemory, "1392Mi")
}

func TestNeedsKarpenterOptions(t *testing.T) {
	if _, _, err := InstanceTypes(context.Background(), al2023(t), "us-east-1"); err == nil || !strings.Contains(err.Error(), "Karpenter options") {
		t.Errorf("err = %v, want one naming the missing Karpenter options", err)
	}
}

func TestUnknownRegion(t *testing.T) {
	_, _, err := InstanceTypes(testContext(), al2023(t), "mars-north-1")
	var unknown *UnknownRegionError
	if !errors.As(err, &unknown) {
		t.Fatalf("err = %v, want *UnknownRegionError", err)
	}
	for _, r := range []string{"us-east-1", "eu-west-1"} {
		if !strings.Contains(err.Error(), r) {
			t.Errorf("error %q does not name known region %s", err, r)
		}
	}
}
