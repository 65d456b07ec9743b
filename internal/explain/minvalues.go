package explain

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"
)

// minValues sizes the MinValues change with Karpenter's own InstanceTypes.SatisfiesMinValues over
// the instance types left for the pod (compatible with the pod's and the NodePool's requirements,
// offered, and fitting the pod with its DaemonSet overhead, by Karpenter's predicates): for each key
// whose minValues they cannot meet, how many values they span. The policy is the one in effect.
func (d describer) minValues() Reason {
	policy := string(d.x.sim.KarpenterOptions().MinValuesPolicy)
	reqs := scheduling.NewRequirements(scheduler.NewNodeClaimTemplate(d.np).Requirements.Values()...)
	reqs.Add(scheduling.NewStrictPodRequirements(d.x.pod).Values()...)
	left := d.typesLeft(reqs)
	_, short, _ := left.SatisfiesMinValues(reqs)
	keys := make([]string, 0, len(short))
	for k := range short {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := Reason{Kind: MinValues, Key: strings.Join(keys, ",")}
	if len(keys) == 0 { // not the types alone: say what the NodePool asks
		var asked []string
		for _, req := range d.np.Spec.Template.Spec.Requirements {
			if req.MinValues != nil {
				asked = append(asked, fmt.Sprintf("%s (%d)", req.Key, *req.MinValues))
			}
		}
		r.Key = strings.Join(asked, ",")
		r.Message = fmt.Sprintf("Karpenter cannot meet the NodePool's minValues on %s for the pod (min-values-policy %s)", strings.Join(asked, ", "), policy)
		r.Change = "lower minValues on " + strings.Join(asked, ", ") + ", or allow more instance types"
		return r
	}
	var said, changes []string
	for _, k := range keys {
		said = append(said, fmt.Sprintf("minValues %d on %s, but they span %d", *reqs.Get(k).MinValues(), k, short[k]))
		changes = append(changes, fmt.Sprintf("lower minValues on %s to ≤ %d", k, short[k]))
	}
	r.Message = fmt.Sprintf("the %d instance types left for the pod cannot meet the NodePool's %s (min-values-policy %s)", len(left), strings.Join(said, "; "), policy)
	r.Change = fmt.Sprintf("%s (the types left for the pod span that many values), or allow more instance types", strings.Join(changes, ", "))
	return r
}

// typesLeft are the NodePool's instance types compatible with reqs, with an available offering for
// them, and with room for the pod's requests plus the DaemonSet overhead (the requests of the
// NodeClaim launched with the constraint relaxed, when there is one).
func (d describer) typesLeft(reqs scheduling.Requirements) cloudprovider.InstanceTypes {
	need := podRequests(d.x.pod)
	if d.claim != nil { // its requests are the pod's plus the DaemonSet overhead
		need[corev1.ResourceCPU] = *resource.NewMilliQuantity(d.claim.CPURequestMilli, resource.DecimalSI)
		need[corev1.ResourceMemory] = *resource.NewQuantity(d.claim.MemoryRequest, resource.BinarySI)
	}
	var left cloudprovider.InstanceTypes
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if it.Requirements.Intersects(reqs) == nil && it.Offerings.Available().HasCompatible(reqs) && resources.Fits(need, it.Allocatable()) {
			left = append(left, it)
		}
	}
	return left
}
