package engine

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
)

// The what-if --zone-down lives here: the NodePools lose their offerings in the zones (nodePoolSet.usable)
// and the cluster loses what runs there (takeZonesDown). --scale, the other what-if, changes the
// snapshot before the engine sees it (package load).

// zonesDown checks the what-if's zones against the zones the NodePools can launch in, as given (a
// zone already taken down is not "unknown"); a repeated zone is the same what-if as once. A zone
// may be given by its zone ID (use1-az1), which names maps to the zone's name as the account has it.
func zonesDown(zones, known []string, names map[string]string) (map[string]bool, error) {
	down := map[string]bool{}
	for _, z := range zones {
		if name, ok := names[z]; ok && !slices.Contains(known, z) {
			z = name
		}
		if err := checkZone(z, known); err != nil {
			return nil, err
		}
		down[z] = true
	}
	return down, nil
}

// zoneNamesByID maps zone IDs to zone names as the account has them: from the EC2NodeClasses'
// status.subnets and the nodes' topology.k8s.aws/zone-id labels (never by position).
func zoneNamesByID(snap *Snapshot) map[string]string {
	out := map[string]string{}
	for _, nc := range snap.EC2NodeClasses {
		for _, s := range nc.Status.Subnets {
			if s.ZoneID != "" && s.Zone != "" {
				out[s.ZoneID] = s.Zone
			}
		}
	}
	for _, n := range snap.Nodes {
		if id, name := n.Labels[zoneIDLabel], n.Labels[corev1.LabelTopologyZone]; id != "" && name != "" {
			out[id] = name
		}
	}
	return out
}

// zoneIDLabel is the AWS provider's zone-ID label on nodes.
const zoneIDLabel = "topology.k8s.aws/zone-id"

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
