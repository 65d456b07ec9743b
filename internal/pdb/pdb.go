// Package pdb evaluates a PodDisruptionBudget's spec as Kubernetes' disruption controller does
// (pkg/controller/disruption: getExpectedPodCount and updatePdbStatus), for callers that need the
// answer before, or without, the status the controller writes.
package pdb

import (
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Allowed is the status.disruptionsAllowed the disruption controller computes for spec when its
// pods' controller wants expected replicas and healthy of them are Ready: healthy minus the
// desired healthy count (expected − maxUnavailable, or minAvailable), never below 0. Percentages
// scale with expected and round up, as the controller's do. The error is the controller's for a
// value that is neither an integer nor a percentage.
func Allowed(spec policyv1.PodDisruptionBudgetSpec, expected, healthy int32) (int32, error) {
	var desiredHealthy int32
	switch {
	case spec.MaxUnavailable != nil:
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, err
		}
		desiredHealthy = max(expected-int32(maxUnavailable), 0)
	case spec.MinAvailable != nil && spec.MinAvailable.Type == intstr.Int:
		desiredHealthy = spec.MinAvailable.IntVal
	case spec.MinAvailable != nil:
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, err
		}
		desiredHealthy = int32(minAvailable)
	}
	if expected <= 0 {
		return 0, nil
	}
	return max(healthy-desiredHealthy, 0), nil
}
