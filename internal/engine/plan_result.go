package engine

import (
	"errors"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/controllers/provisioning"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"
)

// result summarises what Schedule decided (r) as karpctl's plan: the new NodeClaims by NodePool, the
// placements onto existing nodes and every other pending pod as unschedulable, with a reason.
func (s *simulation) result(r scheduler.Results) *Result {
	res := &Result{
		ZonesDown:     s.zonesDown,
		NodePools:     []NodePoolPlan{},
		ExistingNodes: []ExistingNodePlacement{},
		Unschedulable: []UnschedulableGroup{},
		Warnings:      append([]Warning{}, s.warnings...),
	}
	res.Totals.PendingPods = len(s.pending)
	handled := map[types.UID]bool{} // the pending pods the plan has a line for
	s.addNodeClaims(res, r.NewNodeClaims, handled)
	addExistingNodes(res, r.ExistingNodes, handled)
	s.addUnschedulable(res, r.PodErrors, handled)
	return res
}

// addNodeClaims lists the new NodeClaims under their NodePools, in Karpenter's weight order.
func (s *simulation) addNodeClaims(res *Result, claims []*scheduler.NodeClaim, handled map[types.UID]bool) {
	ordered := append([]*karpv1.NodePool{}, s.nodePools...)
	nodepoolutils.OrderByWeight(ordered)
	index := map[string]int{}
	for _, np := range ordered {
		if nodepoolutils.IsStatic(np) {
			continue // they take no pending pods: Result.Static
		}
		index[np.Name] = len(res.NodePools)
		res.NodePools = append(res.NodePools, s.pools.plan(np))
	}
	res.Catalog, res.Region, res.AWSData = s.pools.catalogs()
	for _, nc := range claims {
		plan := nodeClaimPlan(nc)
		s.annotate(&plan, nc)
		for _, p := range nc.Pods {
			handled[p.UID] = true
		}
		pp := &res.NodePools[index[nc.NodePoolName]]
		pp.NodeClaims = append(pp.NodeClaims, plan)
		pp.PricePerHour += plan.PricePerHour
		pp.Pods += len(plan.Pods)
		res.Totals.NewNodes++
		res.Totals.PricePerHour += plan.PricePerHour
		res.Totals.PodsOnNewNodes += len(plan.Pods)
	}
	for i := range res.NodePools {
		ncs := res.NodePools[i].NodeClaims
		sort.SliceStable(ncs, func(a, b int) bool {
			if ncs[a].InstanceType != ncs[b].InstanceType {
				return ncs[a].InstanceType < ncs[b].InstanceType
			}
			if ncs[a].Zone != ncs[b].Zone {
				return ncs[a].Zone < ncs[b].Zone
			}
			return first(ncs[a].Pods) < first(ncs[b].Pods)
		})
	}
}

// addExistingNodes lists the pending pods Karpenter's scheduler put onto existing (or in-flight) nodes.
func addExistingNodes(res *Result, nodes []*scheduler.ExistingNode, handled map[types.UID]bool) {
	for _, en := range nodes {
		if len(en.Pods) == 0 {
			continue
		}
		pl := ExistingNodePlacement{Node: en.Name(), NodePool: en.Labels()[karpv1.NodePoolLabelKey]}
		for _, p := range en.Pods {
			handled[p.UID] = true
			pl.Pods = append(pl.Pods, podName(p))
		}
		sort.Strings(pl.Pods)
		res.ExistingNodes = append(res.ExistingNodes, pl)
		res.Totals.PodsOnExistingNodes += len(pl.Pods)
	}
	sort.Slice(res.ExistingNodes, func(a, b int) bool { return res.ExistingNodes[a].Node < res.ExistingNodes[b].Node })
}

// addUnschedulable groups by reason the pods Karpenter's scheduler failed (podErrors) and every
// pending pod not handled otherwise, largest group first.
func (s *simulation) addUnschedulable(res *Result, podErrors map[*corev1.Pod]error, handled map[types.UID]bool) {
	groups := map[string]*UnschedulableGroup{}
	var keys []string
	add := func(stage, reason string, p *corev1.Pod) {
		handled[p.UID] = true
		k := stage + "\x00" + reason
		g, ok := groups[k]
		if !ok {
			g = &UnschedulableGroup{Stage: stage, Reason: reason}
			groups[k] = g
			keys = append(keys, k)
		}
		g.Pods = append(g.Pods, podName(p))
		res.Totals.UnschedulablePods++
	}
	for p, err := range podErrors {
		add("scheduling", err.Error(), p)
	}
	// Whatever else Karpenter reported as FailedScheduling was rejected before scheduling. Karpenter
	// rejects some pods without an event (those requiring karpenter.sh/nodepool DoesNotExist, like its
	// own replicas): ask its own Validate why. A pod with no answer at all is still reported, never
	// dropped from the plan.
	for _, p := range s.pending {
		if handled[p.UID] {
			continue
		}
		if len(s.nodePools) == 0 { // Karpenter's provisioner: "no dynamic nodepools found"
			add("scheduling", "no dynamic nodepools found: no NodePool is left that Karpenter provisions with", p)
			continue
		}
		if msg, ok := s.recorder.message(p.UID); ok {
			add("validation", msg, p)
			continue
		}
		switch err := s.provisioner.Validate(s.ctx, p); {
		case errors.Is(err, provisioning.KarpenterManagedLabelDoesNotExistError):
			add("ignored", "ignored by Karpenter: the pod requires karpenter.sh/nodepool DoesNotExist (it must not run on Karpenter-launched nodes), so only room on existing nodes, found by kube-scheduler, can take it", p)
		case err != nil:
			add("validation", err.Error(), p)
		default:
			add("unknown", "Karpenter's scheduler returned no decision for this pod", p)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		sort.Strings(g.Pods)
		res.Unschedulable = append(res.Unschedulable, *g)
	}
	sort.SliceStable(res.Unschedulable, func(a, b int) bool {
		return len(res.Unschedulable[a].Pods) > len(res.Unschedulable[b].Pods)
	})
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// nodeClaimPlan summarises a NodeClaim: the cheapest compatible offering over its instance-type
// options is what a lowest-price launch picks (the AWS provider asks EC2 Fleet for lowest-price
// on-demand; spot's price-capacity-optimized may pick another); ties go to the earlier option.
func nodeClaimPlan(nc *scheduler.NodeClaim) NodeClaimPlan {
	plan := NodeClaimPlan{Zones: []string{}, CapacityTypes: []string{}, Pods: make([]string, 0, len(nc.Pods))}
	zones, capacityTypes := map[string]bool{}, map[string]bool{}
	bestPrice := -1.0
	for _, it := range nc.InstanceTypeOptions {
		offs := it.Offerings.Launchable().Compatible(nc.Requirements)
		if len(offs) == 0 {
			continue
		}
		for _, o := range offs {
			zones[o.Requirements.Get(corev1.LabelTopologyZone).Any()] = true
			capacityTypes[o.Requirements.Get(karpv1.CapacityTypeLabelKey).Any()] = true
		}
		c := offs.Cheapest()
		if bestPrice < 0 || c.Price < bestPrice {
			bestPrice = c.Price
			plan.InstanceType = it.Name
			plan.PricePerHour = c.Price
			plan.Zone = c.Requirements.Get(corev1.LabelTopologyZone).Any()
			plan.CapacityType = c.Requirements.Get(karpv1.CapacityTypeLabelKey).Any()
			plan.ReservationID = ""
			if c.Requirements.Has(cloudprovider.ReservationIDLabel) {
				plan.ReservationID = c.Requirements.Get(cloudprovider.ReservationIDLabel).Any()
			}
			alloc := it.Allocatable()
			plan.CPUAllocatableMilli = alloc.Cpu().MilliValue()
			plan.MemoryAllocatable = alloc.Memory().Value()
		}
	}
	if n := len(nc.InstanceTypeOptions); n > 0 {
		plan.OtherInstanceTypes = n - 1
	}
	for z := range zones {
		plan.Zones = append(plan.Zones, z)
	}
	for c := range capacityTypes {
		plan.CapacityTypes = append(plan.CapacityTypes, c)
	}
	sort.Strings(plan.Zones)
	sort.Strings(plan.CapacityTypes)
	for _, p := range nc.Pods {
		plan.Pods = append(plan.Pods, podName(p))
	}
	sort.Strings(plan.Pods)
	req := nc.Spec.Resources.Requests
	plan.CPURequestMilli = req.Cpu().MilliValue()
	plan.MemoryRequest = req.Memory().Value()
	if plan.CPUAllocatableMilli > 0 {
		plan.CPUFill = float64(plan.CPURequestMilli) / float64(plan.CPUAllocatableMilli)
	}
	if plan.MemoryAllocatable > 0 {
		plan.MemoryFill = float64(plan.MemoryRequest) / float64(plan.MemoryAllocatable)
	}
	return plan
}
