package engine

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
)

// schedulerFits answers "which instance types have room for this pod?" with Karpenter's scheduler:
// it schedules the pod alone on a cluster with no nodes, the NodePool (for a NodeClass, a NodePool of
// it with no requirements), the snapshot's DaemonSets, NodeOverlays and Karpenter settings. The new
// NodeClaim's instance-type options are then the types whose allocatable holds the pod plus the
// DaemonSet pods Karpenter expects on such a node, within the NodePool's limits, with an offering
// the pod allows. why says why Karpenter would launch no node for the pod at all.
func schedulerFits(ctx context.Context, snap *Snapshot, src InstanceTypeSource, ref *karpv1.NodeClassReference, np *karpv1.NodePool, pod *corev1.Pod) (fits map[string]bool, why string, err error) {
	sim, err := newSimulation(ctx, oneNodePool(snap, ref, np, pod), Options{InstanceTypes: src, keepStatic: true})
	if err != nil {
		return nil, "", err
	}
	results, err := sim.provisioner.Schedule(sim.ctx)
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
// DaemonSets, NodeOverlays and settings, and the pods given.
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

// overlaid is the NodePool's instance types as Karpenter schedules with them when NodeOverlays
// apply (the overlay store filled by Karpenter's nodeoverlay controller), with the marks of the types
// an overlay changed, and the overlays' warnings (ignored with the gate off, rejected). nil types:
// no overlay applies.
func overlaid(ctx context.Context, snap *Snapshot, src InstanceTypeSource, ref *karpv1.NodeClassReference, np *karpv1.NodePool) ([]*cloudprovider.InstanceType, map[string]*OverlayMark, []Warning, error) {
	if len(snap.NodeOverlays) == 0 {
		return nil, nil, nil, nil
	}
	sim, err := newSimulation(ctx, oneNodePool(snap, ref, np), Options{InstanceTypes: src, keepStatic: true})
	if err != nil {
		return nil, nil, nil, err
	}
	var warnings []Warning
	for _, w := range sim.warnings {
		if strings.HasPrefix(w.Message, "NodeOverlay") {
			warnings = append(warnings, w)
		}
	}
	if sim.overlays == nil {
		return nil, nil, warnings, nil
	}
	its, err := sim.cloud.GetInstanceTypes(sim.ctx, sim.nodePools[0])
	if err != nil {
		return nil, nil, nil, err
	}
	return its, sim.overlays.marks(sim.ctx, sim.nodePools[0], its), warnings, nil
}

// requestsPod is the pod --requests describes: one container requesting them.
func requestsPod(requests corev1.ResourceList) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "requests", Namespace: metav1.NamespaceDefault},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "requests", Resources: corev1.ResourceRequirements{Requests: requests}}}}}
}
