package explain

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"
)

// constraint is one thing that may block a NodePool for a pod, and how to relax it: relax changes
// copies of the pod and the NodePool so that the constraint no longer applies.
type constraint struct {
	kind Kind
	// key is the label or taint key it is about ("" when the kind says it all).
	key   string
	taint *corev1.Taint
	// onTypes marks a Requirement the NodePool allows but none of its instance types meets.
	onTypes bool
	// keys are the offering labels an Offering relaxes: zone, capacity type, or both.
	keys  []string
	relax func(p *corev1.Pod, np *karpv1.NodePool)
}

// candidates are the constraints of the pod and the NodePool that may block it, found with
// Karpenter's predicates (taint toleration, requirement compatibility, offerings). They are only
// suspects: a counterfactual run confirms each one. Resources is not among them (see resourcesRelaxed).
func candidates(p *corev1.Pod, np *karpv1.NodePool, its []*cloudprovider.InstanceType) []constraint {
	var out []constraint
	for i := range np.Spec.Template.Spec.Taints {
		t := np.Spec.Template.Spec.Taints[i]
		if scheduling.Taints([]corev1.Taint{t}).ToleratesPod(p) != nil {
			out = append(out, constraint{kind: Taint, key: t.Key, taint: &t, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
				p.Spec.Tolerations = append(p.Spec.Tolerations, toleration(t))
			}})
		}
	}
	reqs := requirementConstraints(p, np, its)
	out = append(out, reqs...)
	// Offerings are judged with the conflicting requirements relaxed: a pod's arch and its zone may
	// both block, and an empty intersection on arch would hide the zone.
	rp, rnp := p.DeepCopy(), np.DeepCopy()
	for _, c := range reqs {
		c.relax(rp, rnp)
	}
	if !offered(scheduling.NewStrictPodRequirements(rp), scheduler.NewNodeClaimTemplate(rnp).Requirements, its) {
		out = append(out, offering(onBoth, offeringKeys...))
	}
	if len(np.Spec.Limits) > 0 {
		out = append(out, constraint{kind: Limit, relax: func(_ *corev1.Pod, np *karpv1.NodePool) { np.Spec.Limits = nil }})
	}
	if slices.ContainsFunc(np.Spec.Template.Spec.Requirements, func(r karpv1.NodeSelectorRequirementWithMinValues) bool { return r.MinValues != nil }) {
		out = append(out, constraint{kind: MinValues, relax: func(_ *corev1.Pod, np *karpv1.NodePool) {
			for i := range np.Spec.Template.Spec.Requirements {
				np.Spec.Template.Spec.Requirements[i].MinValues = nil
			}
		}})
	}
	return append(out, podConstraints(p)...)
}

// requirementConstraints are the pod's node requirements that block: those that conflict with the
// NodePool's requirements (relaxed: the NodePool allows the pod's values), then those the NodePool
// allows but that none of its instance types meets once those conflicts are lifted, such as an
// instance family of another architecture (relaxed: the pod drops the requirement). Zone and
// capacity type are left to Offering.
func requirementConstraints(p *corev1.Pod, np *karpv1.NodePool, its []*cloudprovider.InstanceType) []constraint {
	var out []constraint
	podReqs := scheduling.NewStrictPodRequirements(p)
	npReqs := scheduler.NewNodeClaimTemplate(np).Requirements
	for _, k := range sortedKeys(podReqs) {
		if npReqs.Compatible(scheduling.NewRequirements(podReqs.Get(k)), scheduling.AllowUndefinedWellKnownLabels) != nil {
			relax := func(_ *corev1.Pod, np *karpv1.NodePool) { widen(np, k, podReqs.Get(k)) }
			if k == karpv1.NodePoolLabelKey { // a NodePool's own name cannot be widened: the pod chose another
				relax = func(p *corev1.Pod, _ *karpv1.NodePool) { dropPodRequirement(p, k) }
			}
			out = append(out, constraint{kind: Requirement, key: k, relax: relax})
		}
	}
	rnp := np.DeepCopy()
	for _, c := range out {
		c.relax(p.DeepCopy(), rnp)
	}
	npReqs = withoutOfferings(scheduler.NewNodeClaimTemplate(rnp).Requirements)
	if !slices.ContainsFunc(its, func(it *cloudprovider.InstanceType) bool { return it.Requirements.Intersects(npReqs) == nil }) {
		return out // the NodePool's own requirements leave no type: not the pod's doing
	}
	for _, k := range sortedKeys(podReqs) {
		if k == karpv1.NodePoolLabelKey || slices.Contains(offeringKeys, k) || slices.ContainsFunc(out, func(c constraint) bool { return c.key == k }) {
			continue
		}
		if len(typesWith(its, npReqs, podReqs.Get(k))) == 0 {
			out = append(out, constraint{kind: Requirement, key: k, onTypes: true, relax: func(p *corev1.Pod, _ *karpv1.NodePool) { dropPodRequirement(p, k) }})
		}
	}
	return out
}

// typesWith are the instance types compatible with the requirements reqs that meet r.
func typesWith(its []*cloudprovider.InstanceType, reqs scheduling.Requirements, r *scheduling.Requirement) []*cloudprovider.InstanceType {
	want := scheduling.NewRequirements(r)
	var out []*cloudprovider.InstanceType
	for _, it := range its {
		if it.Requirements.Intersects(reqs) == nil && it.Requirements.Intersects(want) == nil {
			out = append(out, it)
		}
	}
	return out
}

// Whose requirements an Offering relaxes.
const (
	onBoth = iota
	onPod
	onNodePool
)

// offering is the Offering constraint over the given keys: the pod, the NodePool or both (on) allow
// any value of them.
func offering(on int, keys ...string) constraint {
	return constraint{kind: Offering, key: strings.Join(keys, ","), keys: keys, relax: func(p *corev1.Pod, np *karpv1.NodePool) {
		for _, k := range keys {
			if on != onNodePool {
				dropPodRequirement(p, k)
			}
			if on != onPod {
				dropNodePoolRequirement(np, k)
			}
		}
	}}
}

// podConstraints are the pod's own constraints that a new node may be unable to satisfy.
func podConstraints(p *corev1.Pod) []constraint {
	var out []constraint
	if slices.ContainsFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil || v.Ephemeral != nil }) {
		out = append(out, constraint{kind: Volume, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
			p.Spec.Volumes = slices.DeleteFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.PersistentVolumeClaim != nil || v.Ephemeral != nil })
		}})
	}
	if slices.ContainsFunc(p.Spec.TopologySpreadConstraints, func(t corev1.TopologySpreadConstraint) bool { return t.WhenUnsatisfiable == corev1.DoNotSchedule }) {
		out = append(out, constraint{kind: Topology, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
			p.Spec.TopologySpreadConstraints = slices.DeleteFunc(p.Spec.TopologySpreadConstraints, func(t corev1.TopologySpreadConstraint) bool {
				return t.WhenUnsatisfiable == corev1.DoNotSchedule
			})
		}})
	}
	if a := p.Spec.Affinity; a != nil && ((a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0) ||
		(a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0)) {
		out = append(out, constraint{kind: Affinity, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
			if a := p.Spec.Affinity; a.PodAffinity != nil {
				a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
			}
			if a := p.Spec.Affinity; a.PodAntiAffinity != nil {
				a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = nil
			}
		}})
	}
	if len(hostPorts(p)) > 0 {
		out = append(out, constraint{kind: HostPort, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
			for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range cs {
					for j := range cs[i].Ports {
						cs[i].Ports[j].HostPort = 0
					}
				}
			}
		}})
	}
	return out
}

// resourcesRelaxed is the Resources constraint: the pod requests nothing. It is tried only when
// relaxing every other suspect is not enough, since a pod that requests nothing also fits under
// any limit and would hide a Limit.
var resourcesRelaxed = constraint{kind: Resources, relax: func(p *corev1.Pod, _ *karpv1.NodePool) {
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			cs[i].Resources.Requests, cs[i].Resources.Limits = nil, nil
		}
	}
	p.Spec.Overhead = nil
}}

// offeringKeys are the labels offerings are made of.
var offeringKeys = []string{corev1.LabelTopologyZone, karpv1.CapacityTypeLabelKey}

// offered says whether an instance type compatible with the pod's and the NodePool's requirements
// (zone and capacity type aside) has an available offering for all of them (true when no type is
// compatible at all: that is not a matter of offerings).
func offered(podReqs, npReqs scheduling.Requirements, its []*cloudprovider.InstanceType) bool {
	reqs := scheduling.NewRequirements(npReqs.Values()...)
	reqs.Add(podReqs.Values()...)
	others := withoutOfferings(reqs)
	compatible := false
	for _, it := range its {
		if it.Requirements.Intersects(others) != nil {
			continue
		}
		compatible = true
		if it.Offerings.Available().HasCompatible(reqs) {
			return true
		}
	}
	return !compatible
}

// withoutOfferings are the requirements but zone and capacity type.
func withoutOfferings(reqs scheduling.Requirements) scheduling.Requirements {
	out := scheduling.NewRequirements()
	for _, r := range reqs.Values() {
		if !slices.Contains(offeringKeys, r.Key) {
			out.Add(r)
		}
	}
	return out
}

func toleration(t corev1.Taint) corev1.Toleration {
	if t.Value == "" {
		return corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpExists, Effect: t.Effect}
	}
	return corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpEqual, Value: t.Value, Effect: t.Effect}
}

// widen makes the NodePool allow what the pod requires of key: In gets the union of values, a
// NodePool template label on the key gives way to the requirement, and any other operator on the
// key is dropped (any value allowed).
func widen(np *karpv1.NodePool, key string, pod *scheduling.Requirement) {
	spec := &np.Spec.Template.Spec
	var values []string
	if v, ok := np.Spec.Template.Labels[key]; ok {
		values = append(values, v)
		delete(np.Spec.Template.Labels, key)
	}
	kept := spec.Requirements[:0]
	inOnly := true
	for _, r := range spec.Requirements {
		if r.Key != key {
			kept = append(kept, r)
			continue
		}
		if r.Operator != corev1.NodeSelectorOpIn {
			inOnly = false
		}
		values = append(values, r.Values...)
	}
	spec.Requirements = kept
	if pod.Operator() != corev1.NodeSelectorOpIn || !inOnly {
		if pod.Operator() == corev1.NodeSelectorOpIn && len(values) == 0 {
			spec.Requirements = append(spec.Requirements, karpv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: pod.Values()})
		}
		return
	}
	for _, v := range pod.Values() {
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	slices.Sort(values)
	spec.Requirements = append(spec.Requirements, karpv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values})
}

func dropNodePoolRequirement(np *karpv1.NodePool, key string) {
	spec := &np.Spec.Template.Spec
	spec.Requirements = slices.DeleteFunc(spec.Requirements, func(r karpv1.NodeSelectorRequirementWithMinValues) bool { return r.Key == key })
	delete(np.Spec.Template.Labels, key)
}

// dropPodRequirement removes the pod's node selector and required node affinity on key.
func dropPodRequirement(p *corev1.Pod, key string) {
	delete(p.Spec.NodeSelector, key)
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return
	}
	terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	for i := range terms {
		terms[i].MatchExpressions = slices.DeleteFunc(terms[i].MatchExpressions, func(r corev1.NodeSelectorRequirement) bool { return r.Key == key })
	}
}

func hostPorts(p *corev1.Pod) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			for _, port := range c.Ports {
				if port.HostPort > 0 {
					out = append(out, port)
				}
			}
		}
	}
	return out
}

func sortedKeys(r scheduling.Requirements) []string {
	keys := r.Keys().UnsortedList()
	slices.Sort(keys)
	return keys
}

// podRequests are the pod's requests as Karpenter sums them.
func podRequests(p *corev1.Pod) corev1.ResourceList { return resources.RequestsForPods(p) }
