package explain

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// relaxedOthers are copies of the pod and the NodePool with every other blocking constraint
// relaxed, as in the sizing run: what is left to say about c.
func (d describer) relaxedOthers(c constraint) (*corev1.Pod, *karpv1.NodePool) {
	p, np := d.x.pod.DeepCopy(), d.np.DeepCopy()
	for _, o := range d.blocking {
		if o.kind != c.kind || o.key != c.key {
			o.relax(p, np)
		}
	}
	return p, np
}

// offering says, for each key the Offering relaxed, what the pod and the NodePool allow and where
// the instance types that meet the rest of their requirements are offered; the change names the
// value the sizing run's NodeClaim took and whose requirement must allow it.
func (d describer) offering(c constraint) Reason {
	p, np := d.relaxedOthers(c)
	podReqs, npReqs := scheduling.NewStrictPodRequirements(p), scheduler.NewNodeClaimTemplate(np).Requirements
	reqs := scheduling.NewRequirements(npReqs.Values()...)
	reqs.Add(podReqs.Values()...)
	r := Reason{Kind: Offering, Key: c.key}
	var said, changes []string
	for _, k := range c.keys {
		if podReqs.Has(k) {
			said = append(said, "the pod requires "+podReqs.Get(k).String())
		}
		if npReqs.Has(k) {
			said = append(said, "the NodePool allows "+npReqs.Get(k).String())
		}
		where := d.offeredValues(reqs, k)
		if len(where) == 0 {
			said = append(said, fmt.Sprintf("the instance types that meet their other requirements have no available offering for any %s", k))
		} else {
			said = append(said, fmt.Sprintf("the instance types that meet their other requirements are offered only with %s %s", k, few(where, 8)))
		}
		changes = append(changes, d.offeringChange(k, podReqs, npReqs, where))
	}
	r.Message, r.Change = strings.Join(said, "; "), strings.Join(changes, ", and ")
	if v := claimValue(d, c.key); v != "" {
		r.Values = []string{v}
	}
	return r
}

// offeredValues are the values of key in the available offerings of the NodePool's instance types
// that meet reqs (reqs on key aside), by Karpenter's predicates.
func (d describer) offeredValues(reqs scheduling.Requirements, key string) []string {
	rest := scheduling.NewRequirements()
	for _, r := range reqs.Values() {
		if r.Key != key {
			rest.Add(r)
		}
	}
	others := withoutOfferings(reqs)
	var out []string
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if it.Requirements.Intersects(others) != nil {
			continue
		}
		for _, o := range it.Offerings.Available().Compatible(rest) {
			if v := o.Requirements.Get(key).Any(); v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (d describer) offeringChange(key string, podReqs, npReqs scheduling.Requirements, where []string) string {
	v := claimValue(d, key)
	if v == "" {
		if len(where) == 0 {
			return fmt.Sprintf("allow other values of %s, or instance types offered there", key)
		}
		return fmt.Sprintf("allow %s %s", key, few(where, 8))
	}
	var who []string
	if podReqs.Has(key) && !podReqs.Get(key).Has(v) {
		who = append(who, "the pod")
	}
	if npReqs.Has(key) && !npReqs.Get(key).Has(v) {
		who = append(who, "the NodePool")
	}
	in := ""
	if len(who) > 0 {
		in = " in " + strings.Join(who, " and ")
	}
	return fmt.Sprintf("allow %s %s%s (where %s is offered)", key, v, in, d.claim.InstanceType)
}

// claimValue is the sizing run's NodeClaim's value for an offering key ("" without one).
func claimValue(d describer, key string) string {
	switch {
	case d.claim == nil:
		return ""
	case key == corev1.LabelTopologyZone:
		return d.claim.Zone
	case key == karpv1.CapacityTypeLabelKey:
		return d.claim.CapacityType
	}
	return ""
}

// few lists up to n values, then how many there are in all.
func few(values []string, n int) string {
	if len(values) <= n {
		return strings.Join(values, ", ")
	}
	return fmt.Sprintf("%s, … (%d in all)", strings.Join(values[:n], ", "), len(values))
}
