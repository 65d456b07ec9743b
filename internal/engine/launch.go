package engine

import (
	instancefilter "github.com/aws/karpenter-provider-aws/pkg/providers/instance/filter"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// awsLaunch fills what the AWS provider launches for a new NodeClaim whose options NodeOverlays
// changed. Its Create applies the overlays again (instanceTypeStore.ApplyAll), keeps the options its
// launch filters pass (instance/filter, the chain and order of its filterInstanceTypes), and, because
// a price overlay applied, asks EC2 Fleet for the prioritized strategy with each override's priority
// its overlaid price. So on-demand and reserved capacity launch the first option at Karpenter's own
// (overlaid) prices that the filters keep — usually the type Karpenter ranked first — and the price
// charged is EC2's. Spot is capacity-optimized-prioritized: EC2 picks by spare capacity, so no single
// type is named.
func awsLaunch(plan *NodeClaimPlan, nc *scheduler.NodeClaim, plain map[string]*cloudprovider.InstanceType) {
	if plan.CapacityType == karpv1.CapacityTypeSpot {
		return
	}
	reqs := scheduling.NewRequirements(nc.Requirements.Values()...)
	its := nc.InstanceTypeOptions
	for _, f := range []instancefilter.Filter{
		instancefilter.CompatibleLaunchableFilter(reqs, nc.Spec.Resources.Requests),
		instancefilter.CapacityReservationTypeFilter(reqs),
		instancefilter.CapacityBlockFilter(reqs),
		instancefilter.ReservedOfferingFilter(reqs),
		instancefilter.ExoticInstanceTypeFilter(reqs),
		instancefilter.SpotOfferingFilter(reqs),
	} {
		if its, _ = f.FilterReject(its); len(its) == 0 {
			return
		}
	}
	reqs.Add(scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, plan.CapacityType))
	// EC2's prioritized strategy launches the lowest priority value, the overlaid price: the cheapest
	// option at Karpenter's prices, as launchChoice finds it.
	first, _ := launchChoice(its, reqs)
	if first == nil {
		return
	}
	plan.LaunchInstanceType = first.Name
	if it := plain[first.Name]; it != nil {
		if offs := it.Offerings.Launchable().Compatible(reqs); len(offs) > 0 {
			plan.LaunchPricePerHour = offs.Cheapest().Price
		}
	}
}
