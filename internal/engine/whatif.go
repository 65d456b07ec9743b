package engine

import (
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
)

// The what-if --zone-down lives here: the NodePools lose their offerings in the zones (nodePoolSet.usable)
// and the cluster loses what runs there (takeZonesDown). --scale, the other what-if, changes the
// snapshot before the engine sees it (package load).

// zonesDown checks the what-if's zones against the zones the NodePools can launch in, as given (a
// zone already taken down is not "unknown"); a repeated zone is the same what-if as once.
func zonesDown(zones, known []string) (map[string]bool, error) {
	down := map[string]bool{}
	for _, z := range zones {
		if err := checkZone(z, known); err != nil {
			return nil, err
		}
		down[z] = true
	}
	return down, nil
}

// survivors are the snapshot's objects once the zones are down.
type survivors struct {
	nodes          []*corev1.Node
	nodeClaims     []*karpv1.NodeClaim
	bound, pending []*corev1.Pod
}

// takeZonesDown splits pods (bound and pending, without duplicates) by what is left when the zones
// in down are lost: nodes in them vanish together with their NodeClaims, and their pods become
// pending, except DaemonSet and static pods, which go down with their node. With no zone down it
// only sorts bound from pending.
func takeZonesDown(nodes []*corev1.Node, nodeClaims []*karpv1.NodeClaim, pods []*corev1.Pod, down map[string]bool) survivors {
	var left survivors
	goneNodes := map[string]bool{}
	for _, n := range nodes {
		if down[n.Labels[corev1.LabelTopologyZone]] {
			goneNodes[n.Name] = true
			continue
		}
		left.nodes = append(left.nodes, n)
	}
	for _, nc := range nodeClaims {
		if goneNodes[nc.Status.NodeName] || down[nc.Labels[corev1.LabelTopologyZone]] {
			continue
		}
		left.nodeClaims = append(left.nodeClaims, nc)
	}
	for _, p := range pods {
		switch {
		case p.Spec.NodeName == "":
			left.pending = append(left.pending, p)
		case goneNodes[p.Spec.NodeName]:
			if podutils.IsOwnedByDaemonSet(p) || podutils.IsOwnedByNode(p) {
				continue // they go down with their node
			}
			q := p.DeepCopy()
			q.Spec.NodeName = ""
			left.pending = append(left.pending, q)
		default:
			left.bound = append(left.bound, p)
		}
	}
	return left
}
