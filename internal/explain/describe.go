package explain

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"

	"github.com/karpctl/karpctl/internal/engine"
)

// describer words a confirmed constraint and sizes its change by the NodeClaim Karpenter launched
// once it was relaxed.
type describer struct {
	x     *explainer
	np    *karpv1.NodePool
	claim *engine.NodeClaimPlan
	// blocking are the NodePool's confirmed constraints, relaxed together in the sizing run.
	blocking []constraint
}

func (d describer) describe(c constraint) Reason {
	switch c.kind {
	case Taint:
		t := toleration(*c.taint)
		return Reason{Kind: Taint, Key: c.key, Toleration: &t,
			Message: fmt.Sprintf("the NodePool taints its nodes %s and the pod does not tolerate it", taintString(*c.taint)),
			Change:  fmt.Sprintf("tolerate %s in the pod", taintString(*c.taint))}
	case Requirement:
		if c.onTypes {
			return d.typeRequirement(c.key)
		}
		return d.requirement(c.key)
	case Limit:
		return d.limit()
	case Resources:
		return d.resources()
	case Offering:
		return d.offering(c)
	case MinValues:
		return d.minValues()
	case Volume:
		return d.volume()
	case Topology:
		return d.topology()
	case Affinity:
		return d.affinity()
	case HostPort:
		return Reason{Kind: HostPort, Message: fmt.Sprintf("the pod's host ports %s conflict with what a new node of this NodePool runs", portList(hostPorts(d.x.pod))),
			Change: "drop the host ports or move them off the ports the NodePool's DaemonSets use"}
	}
	return Reason{Kind: c.kind}
}

func (d describer) requirement(key string) Reason {
	pod := scheduling.NewStrictPodRequirements(d.x.pod).Get(key)
	npReqs := scheduler.NewNodeClaimTemplate(d.np).Requirements
	r := Reason{Kind: Requirement, Key: key,
		Message: fmt.Sprintf("the pod requires %s; the NodePool allows %s", pod, npReqs.Get(key))}
	if key == karpv1.NodePoolLabelKey {
		r.Message = fmt.Sprintf("the pod selects NodePool %s (%s); this is NodePool %s", strings.Join(pod.Values(), ","), key, d.np.Name)
		r.Change = fmt.Sprintf("let the pod select NodePool %s too (its %s node selector or affinity)", d.np.Name, key)
		return r
	}
	in := pod.Operator() == corev1.NodeSelectorOpIn
	if in {
		r.Values = pod.Values()
		sort.Strings(r.Values)
	}
	switch {
	case !npReqs.Has(key): // Karpenter's Get answers "Exists" for a key the NodePool never mentions
		r.Message = fmt.Sprintf("the pod requires %s; the NodePool neither defines nor allows label %s (no requirement or template label on it)", pod, key)
		r.Change = fmt.Sprintf("add a requirement on %s to the NodePool template that allows what the pod requires, or a template label", key)
		if in {
			r.Change = fmt.Sprintf("add the requirement %s In [%s] to the NodePool template (or the template label %s: %s)", key, strings.Join(r.Values, ","), key, r.Values[0])
		}
	case in:
		r.Change = fmt.Sprintf("allow %s %s in the NodePool", key, strings.Join(r.Values, ","))
	default:
		r.Change = fmt.Sprintf("drop the NodePool's requirement on %s", key)
	}
	return r
}

// limit sizes the limits: the NodePool's usage plus the capacity of the instance type Karpenter
// launched without limits; only the limits that are too low are raised.
func (d describer) limit() Reason {
	usage := d.x.sim.NodePoolUsage(d.np.Name)
	it := d.instanceType()
	r := Reason{Kind: Limit, Limits: corev1.ResourceList{}}
	var said, changes []string
	names := make([]string, 0, len(d.np.Spec.Limits))
	for name := range d.np.Spec.Limits {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, n := range names {
		name := corev1.ResourceName(n)
		limit := d.np.Spec.Limits[name]
		used := usage[name]
		left := limit.DeepCopy()
		left.Sub(used)
		if it == nil {
			continue
		}
		need := used.DeepCopy()
		need.Add(it.Capacity[name])
		if need.Cmp(limit) <= 0 {
			continue
		}
		req := podRequests(d.x.pod)[name]
		said = append(said, fmt.Sprintf("limits.%s %s: its nodes and NodeClaims use %s, leaving %s; the pod needs %s and the cheapest instance type that takes it, %s, adds %s",
			n, limit.String(), used.String(), left.String(), req.String(), it.Name, ptr(it.Capacity[name])))
		changes = append(changes, fmt.Sprintf("raise limits.%s to ≥ %s", n, need.String()))
		r.Limits[name] = need
	}
	if it == nil {
		r.Message, r.Change = "the NodePool's limits leave no room for an instance type that fits the pod", "raise the NodePool's limits"
		return r
	}
	r.Message, r.Change = strings.Join(said, "; "), strings.Join(changes, ", ")
	return r
}

func (d describer) instanceType() *cloudprovider.InstanceType {
	if d.claim == nil {
		return nil
	}
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if it.Name == d.claim.InstanceType {
			return it
		}
	}
	return nil
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

func portList(ports []corev1.ContainerPort) string {
	var s []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		s = append(s, fmt.Sprintf("%d/%s", p.HostPort, proto))
	}
	return strings.Join(s, ", ")
}

func ptr(q resource.Quantity) string { return q.String() }
