package explain

import (
	"fmt"
	"slices"
	"strings"

	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// typeRequirement is a pod requirement the NodePool allows but none of its instance types meets:
// which of the NodePool's requirements exclude the types that meet it, and what values its types
// have instead.
func (d describer) typeRequirement(key string) Reason {
	_, np := d.relaxedOthers(constraint{kind: Requirement, key: key})
	npReqs := withoutOfferings(scheduler.NewNodeClaimTemplate(np).Requirements)
	pod := scheduling.NewStrictPodRequirements(d.x.pod).Get(key)
	its := d.x.sim.InstanceTypes(d.np.Name)
	var have []string
	for _, it := range its {
		if it.Requirements.Has(key) && it.Requirements.Intersects(npReqs) == nil {
			for _, v := range it.Requirements.Get(key).Values() {
				if !slices.Contains(have, v) {
					have = append(have, v)
				}
			}
		}
	}
	slices.Sort(have)
	var excluding []string
	for _, it := range typesWith(its, scheduling.NewRequirements(), pod) {
		if !it.Requirements.Has(key) {
			continue
		}
		for _, k := range sortedKeys(npReqs) {
			if s := npReqs.Get(k).String(); it.Requirements.Intersects(scheduling.NewRequirements(npReqs.Get(k))) != nil && !slices.Contains(excluding, s) {
				excluding = append(excluding, s)
			}
		}
	}
	r := Reason{Kind: Requirement, Key: key, InstanceTypeValues: have, OnInstanceTypes: true}
	if len(excluding) == 0 {
		r.Message = fmt.Sprintf("the pod requires %s; no instance type of the NodePool's NodeClass has it", pod)
	} else {
		verb := "excludes"
		if len(excluding) > 1 {
			verb = "exclude"
		}
		r.Message = fmt.Sprintf("the pod requires %s; no instance type of the NodePool has it: the NodePool's %s %s the types that do", pod, strings.Join(excluding, ", "), verb)
	}
	r.Message += fmt.Sprintf(" (its types have %s %s)", key, few(have, 8))
	r.Change = fmt.Sprintf("require in the pod a %s the NodePool's types have (%s)", key, few(have, 8))
	if len(excluding) > 0 {
		r.Change += fmt.Sprintf(", or widen the NodePool's %s to let in the types that have %s", strings.Join(excluding, ", "), strings.Join(pod.Values(), ","))
	}
	return r
}
