package engine

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
)

// fits answers "which instance types have room for this pod?" with Karpenter's scheduler over the
// one-NodePool simulation (oneNodePool) holding the pod: it schedules the pod alone on a cluster with
// no nodes, with the snapshot's DaemonSets, NodeOverlays and Karpenter settings. The new NodeClaim's
// instance-type options are then the types whose allocatable holds the pod plus the DaemonSet pods
// Karpenter expects on such a node, within the NodePool's limits, with an offering the pod allows.
// why says why Karpenter would launch no node for the pod at all.
func (s *simulation) fits() (fits map[string]bool, why string, err error) {
	results, err := s.provisioner.Schedule(s.ctx)
	if err != nil {
		return nil, "", fmt.Errorf("karpenter scheduling: %w", err)
	}
	fits = map[string]bool{}
	for _, nc := range results.NewNodeClaims {
		for _, it := range nc.InstanceTypeOptions {
			fits[it.Name] = true
		}
	}
	for _, e := range results.PodErrors {
		why = e.Error()
	}
	return fits, why, nil
}

// oneNodePool is the snapshot that asks about one NodePool (for a NodeClass, a NodePool of it with no
// requirements but the capacity types) on a cluster with no nodes: the NodePool, its NodeClasses, the
// DaemonSets, NodeOverlays and settings, and the pods given. instance-types builds one simulation of
// it for both the fits and the overlaid types.
func oneNodePool(snap *Snapshot, ref *karpv1.NodeClassReference, np *karpv1.NodePool, pods ...*corev1.Pod) *Snapshot {
	if np == nil {
		np = &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: ref.Name}}
		np.Spec.Template.Spec.NodeClassRef = ref
		np.Spec.Template.Spec.Requirements = []karpv1.NodeSelectorRequirementWithMinValues{{Key: karpv1.CapacityTypeLabelKey,
			Operator: corev1.NodeSelectorOpIn, Values: []string{karpv1.CapacityTypeOnDemand, karpv1.CapacityTypeSpot, karpv1.CapacityTypeReserved}}}
	}
	np = np.DeepCopy()
	np.Status = karpv1.NodePoolStatus{} // the empty cluster uses none of its limits
	return &Snapshot{NodePools: []*karpv1.NodePool{np}, PendingPods: pods, DaemonSets: snap.DaemonSets, EC2NodeClasses: snap.EC2NodeClasses,
		NodeOverlays: snap.NodeOverlays, Karpenter: snap.Karpenter, CapacityReservationsFree: snap.CapacityReservationsFree}
}

// overlaid is the one-NodePool simulation's NodePool's instance types as Karpenter schedules with
// them when NodeOverlays apply (the overlay store filled by Karpenter's nodeoverlay controller), with
// the marks of the types an overlay changed, and the overlays' warnings (ignored with the gate off,
// rejected). nil types: no overlay applies.
func (s *simulation) overlaid() ([]*cloudprovider.InstanceType, map[string]*OverlayMark, []Warning, error) {
	var warnings []Warning
	for _, w := range s.warnings {
		if strings.HasPrefix(w.Message, "NodeOverlay") {
			warnings = append(warnings, w)
		}
	}
	if s.overlays == nil {
		return nil, nil, warnings, nil
	}
	its, err := s.cloud.GetInstanceTypes(s.ctx, s.nodePools[0])
	if err != nil {
		return nil, nil, nil, err
	}
	return its, s.overlays.marks(s.ctx, s.nodePools[0], its), warnings, nil
}

// requestsPod is the pod --requests describes: one container requesting them.
func requestsPod(requests corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "requests", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "requests", Resources: corev1.ResourceRequirements{Requests: requests}}}}}
}
