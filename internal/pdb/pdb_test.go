package pdb

import (
	"testing"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestAllowed(t *testing.T) {
	val := func(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }
	for _, tc := range []struct {
		name              string
		spec              policyv1.PodDisruptionBudgetSpec
		expected, healthy int32
		want              int32
		wantErr           bool
	}{
		{name: "maxUnavailable 1 of 2", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("1")}, expected: 2, healthy: 2, want: 1},
		{name: "maxUnavailable 1, one already down", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("1")}, expected: 2, healthy: 1, want: 0},
		{name: "maxUnavailable 0", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("0")}, expected: 2, healthy: 2, want: 0},
		{name: "maxUnavailable 0%", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("0%")}, expected: 3, healthy: 3, want: 0},
		{name: "maxUnavailable 10% rounds up", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("10%")}, expected: 2, healthy: 2, want: 1},
		{name: "maxUnavailable above the replicas", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("5")}, expected: 2, healthy: 2, want: 2},
		{name: "minAvailable 1 of 2", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("1")}, expected: 2, healthy: 2, want: 1},
		{name: "minAvailable = replicas", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("2")}, expected: 2, healthy: 2, want: 0},
		{name: "minAvailable above the healthy", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("3")}, expected: 3, healthy: 2, want: 0},
		{name: "minAvailable 100%", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("100%")}, expected: 2, healthy: 2, want: 0},
		{name: "minAvailable 51% of 2 rounds up to 2", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("51%")}, expected: 2, healthy: 2, want: 0},
		{name: "minAvailable 50% of 3", spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: val("50%")}, expected: 3, healthy: 3, want: 1},
		{name: "no replicas wanted", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("1")}, expected: 0, healthy: 0, want: 0},
		{name: "neither set", spec: policyv1.PodDisruptionBudgetSpec{}, expected: 2, healthy: 2, want: 2},
		{name: "a string that is no percentage", spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &intstr.IntOrString{Type: intstr.String, StrVal: "one"}}, expected: 2, healthy: 2, wantErr: true},
	} {
		got, err := Allowed(tc.spec, tc.expected, tc.healthy)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: Allowed = %d, %v; want %d (error %t)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}
