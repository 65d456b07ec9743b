package explain

import (
	"slices"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
)

// A pod requirement the NodePool allows but none of its instance types meets is a Requirement,
// confirmed by relaxing it, naming the values its types have.
func TestExplainRequirementOnInstanceTypes(t *testing.T) {
	amd64 := requiring(req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))
	for _, tc := range []struct {
		name, key, value string
		in               []string
	}{
		{"family of another architecture", awsv1.LabelInstanceFamily, "m7g",
			[]string{"the pod requires karpenter.k8s.aws/instance-family In [m7g]", "the NodePool's kubernetes.io/arch In [amd64] excludes the types that do", "its types have karpenter.k8s.aws/instance-family "}},
		{"no such type", corev1.LabelInstanceTypeStable, "x9.huge",
			[]string{"no instance type of the NodePool's NodeClass has it", "its types have node.kubernetes.io/instance-type "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := ec2Snapshot(pod("p", "1", selecting(tc.key, tc.value)), amd64)
			v := blocked(t, snap, "eks")
			if !slices.Equal(kinds(v.Reasons), []Kind{Requirement}) || v.Reasons[0].Key != tc.key {
				t.Fatalf("reasons %+v, want the %s requirement", v.Reasons, tc.key)
			}
			r := v.Reasons[0]
			contains(t, "message", r.Message, tc.in...)
			if len(r.InstanceTypeValues) < 2 || slices.Contains(r.InstanceTypeValues, tc.value) || !strings.Contains(r.Change, r.InstanceTypeValues[0]) {
				t.Errorf("values %v, change %q", r.InstanceTypeValues, r.Change)
			}
			if !r.Apply(snap.PendingPods[0], snap.NodePools[0]) {
				t.Fatal("not applicable")
			}
			if e := explainPod(t, snap, "p"); e.Outcome.Kind != OutcomeNewNodeClaim {
				t.Errorf("after the change: %+v", e.Outcome)
			}
		})
	}
}

// When no instance type of the NodePool has any value for the key (a GPU name on a NodePool of
// compute types), the reason lists no values, yet its change is still the pod's, and Apply makes it.
func TestExplainRequirementOnInstanceTypesWithoutValues(t *testing.T) {
	snap := ec2Snapshot(pod("p", "1", selecting(awsv1.LabelInstanceGPUName, "t4")),
		requiring(req(awsv1.LabelInstanceCategory, corev1.NodeSelectorOpIn, "c")))
	v := blocked(t, snap, "eks")
	if !slices.Equal(kinds(v.Reasons), []Kind{Requirement}) || !v.Reasons[0].OnInstanceTypes || len(v.Reasons[0].InstanceTypeValues) != 0 {
		t.Fatalf("reasons %+v, want the GPU-name requirement on the instance types, with no values", v.Reasons)
	}
	if !v.Reasons[0].Apply(snap.PendingPods[0], snap.NodePools[0]) {
		t.Fatal("not applicable")
	}
	if e := explainPod(t, snap, "p"); e.Outcome.Kind != OutcomeNewNodeClaim {
		t.Errorf("after the change: %+v", e.Outcome)
	}
}
