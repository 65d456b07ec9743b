package explain

import (
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// Apply makes the reason's change to the pod and the NodePool (both the caller's copies): the pod
// tolerates the taint (Taint), the NodePool allows the pod's values (Requirement; when none of
// the NodePool's instance types meets the pod's requirement, the pod drops it) or gets the
// limits named (Limit). It reports false for kinds whose change is a decision only a person can
// make (a larger type, another volume, a looser spread): those are described in Change.
func (r Reason) Apply(pod *corev1.Pod, np *karpv1.NodePool) bool {
	switch r.Kind {
	case Taint:
		if r.Toleration == nil {
			return false
		}
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, *r.Toleration)
	case Requirement:
		if r.Key == karpv1.NodePoolLabelKey || r.OnInstanceTypes {
			dropPodRequirement(pod, r.Key)
			return true
		}
		widen(np, r.Key, scheduling.NewStrictPodRequirements(pod).Get(r.Key))
	case Limit:
		if len(r.Limits) == 0 {
			return false
		}
		if np.Spec.Limits == nil {
			np.Spec.Limits = karpv1.Limits{}
		}
		for name, q := range r.Limits {
			np.Spec.Limits[name] = q
		}
	default:
		return false
	}
	return true
}
