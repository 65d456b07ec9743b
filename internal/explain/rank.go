package explain

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"

	"github.com/karpctl/karpctl/internal/engine"
)

// InstanceTypeChoice is why the NodeClaim gets the type it gets: the NodePool's instance types
// that can take the pod, cheapest first, and how many the others were removed by each cause.
type InstanceTypeChoice struct {
	NodePool string `json:"nodePool"`
	// Total is the number of instance types the NodePool's NodeClass offers.
	Total int `json:"total"`
	// Compatible are the types that take the pod, cheapest available compatible offering first.
	Compatible []RankedType `json:"compatible"`
	Removed    Removed      `json:"removed"`
}

// RankedType is one instance type that can take the pod.
type RankedType struct {
	Name                string  `json:"name"`
	CPUAllocatableMilli int64   `json:"cpuAllocatableMilli"`
	MemoryAllocatable   int64   `json:"memoryAllocatableBytes"`
	PricePerHour        float64 `json:"pricePerHour"`
	Zone                string  `json:"zone"`
	CapacityType        string  `json:"capacityType"`
}

// Removed counts the instance types removed, each by the first cause that applies in this order.
type Removed struct {
	// Requirements: incompatible with the NodePool's and the pod's requirements.
	Requirements int `json:"requirements"`
	// NoOffering: no available offering in the zones and capacity types allowed.
	NoOffering int `json:"noOffering"`
	// TooSmall: allocatable below the pod's requests plus DaemonSet overhead.
	TooSmall int `json:"tooSmall"`
	// OverLimit: its capacity exceeds what the NodePool's limits leave.
	OverLimit int `json:"overLimit"`
}

// rank sorts the NodePool's instance types for the pod with Karpenter's predicates: requirement
// compatibility, available compatible offerings, resources.Fits against the requests of the
// NodeClaim Karpenter launched for the pod alone (the pod plus DaemonSet overhead) and the
// NodePool's remaining limits.
func (x *explainer) rank(np *karpv1.NodePool, claim *engine.NodeClaimPlan) *InstanceTypeChoice {
	its := x.sim.InstanceTypes(np.Name)
	c := &InstanceTypeChoice{NodePool: np.Name, Total: len(its), Compatible: []RankedType{}}
	reqs := scheduling.NewRequirements(scheduler.NewNodeClaimTemplate(np).Requirements.Values()...)
	reqs.Add(scheduling.NewStrictPodRequirements(x.pod).Values()...)
	needs := podRequests(x.pod)
	if claim != nil {
		needs = corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(claim.CPURequestMilli, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(claim.MemoryRequest, resource.BinarySI),
		}
		for n, q := range podRequests(x.pod) {
			if n != corev1.ResourceCPU && n != corev1.ResourceMemory {
				needs[n] = q
			}
		}
	}
	var remaining corev1.ResourceList
	if len(np.Spec.Limits) > 0 {
		remaining = resources.Subtract(corev1.ResourceList(np.Spec.Limits), x.sim.NodePoolUsage(np.Name))
	}
	for _, it := range its {
		offs := it.Offerings.Launchable().Compatible(reqs)
		switch {
		case it.Requirements.Intersects(reqs) != nil:
			c.Removed.Requirements++
		case len(offs) == 0:
			c.Removed.NoOffering++
		case !resources.Fits(needs, it.Allocatable()):
			c.Removed.TooSmall++
		case remaining != nil && overLimit(it.Capacity, remaining):
			c.Removed.OverLimit++
		default:
			cheapest := offs.Cheapest()
			alloc := it.Allocatable()
			c.Compatible = append(c.Compatible, RankedType{
				Name: it.Name, CPUAllocatableMilli: alloc.Cpu().MilliValue(), MemoryAllocatable: alloc.Memory().Value(),
				PricePerHour: cheapest.Price, Zone: cheapest.Zone(), CapacityType: cheapest.CapacityType(),
			})
		}
	}
	sort.SliceStable(c.Compatible, func(i, j int) bool {
		if c.Compatible[i].PricePerHour != c.Compatible[j].PricePerHour {
			return c.Compatible[i].PricePerHour < c.Compatible[j].PricePerHour
		}
		return c.Compatible[i].Name < c.Compatible[j].Name
	})
	return c
}

// overLimit is Karpenter's limit check on a type: any limited resource whose capacity exceeds
// what is left.
func overLimit(capacity, remaining corev1.ResourceList) bool {
	for name, left := range remaining {
		if q, ok := capacity[name]; ok && q.Cmp(left) > 0 {
			return true
		}
	}
	return false
}
