package engine

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// NodePrices is the $/h of each Karpenter node of the snapshot (by node name), as Karpenter's
// disruption prices a candidate: the cheapest offering of the node's instance type compatible with
// its labels (zone, capacity type), among the instance types its NodePool's NodeClass resolves to.
// Nodes whose NodePool, NodeClass or instance type is unknown have no entry. Only input errors (an
// AWS region nothing tells) are returned.
func NodePrices(ctx context.Context, snap *Snapshot, src InstanceTypeSource) (map[string]float64, error) {
	pools := map[string]*karpv1.NodePool{}
	for _, np := range snap.NodePools {
		pools[np.Name] = np
	}
	byPool := map[string]map[string]*Resolved{}
	prices := map[string]float64{}
	for _, n := range snap.Nodes {
		np := pools[n.Labels[karpv1.NodePoolLabelKey]]
		if np == nil || np.Spec.Template.Spec.NodeClassRef == nil || !src.Serves(np.Spec.Template.Spec.NodeClassRef.GroupKind()) {
			continue
		}
		res, err := resolveOnce(ctx, byPool, np, src)
		if err != nil {
			return nil, err
		}
		if p, ok := nodePrice(n, res); ok {
			prices[n.Name] = p
		}
	}
	return prices, nil
}

// resolveOnce resolves a NodePool's NodeClass once; a NodeClass Karpenter would not use (not
// Ready, missing) resolves to nothing.
func resolveOnce(ctx context.Context, cache map[string]map[string]*Resolved, np *karpv1.NodePool, src InstanceTypeSource) (*Resolved, error) {
	ref := np.Spec.Template.Spec.NodeClassRef
	kind := ref.Kind + "." + ref.Group
	if r, ok := cache[kind][ref.Name]; ok {
		return r, nil
	}
	res, err := src.Resolve(ctx, ref)
	var nce *NodeClassError
	if errors.As(err, &nce) {
		res, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cache[kind] == nil {
		cache[kind] = map[string]*Resolved{}
	}
	cache[kind][ref.Name] = res
	return res, nil
}

func nodePrice(n *corev1.Node, res *Resolved) (float64, bool) {
	if res == nil {
		return 0, false
	}
	name := n.Labels[corev1.LabelInstanceTypeStable]
	reqs := scheduling.NewLabelRequirements(n.Labels)
	for _, it := range res.InstanceTypes {
		if it.Name != name {
			continue
		}
		compatible := it.Offerings.Compatible(reqs)
		if len(compatible) == 0 {
			return 0, false
		}
		return compatible.Cheapest().Price, true
	}
	return 0, false
}
