package explain

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"
)

// resources compares the pod's requests plus the DaemonSet overhead Karpenter reserved (the requests
// of the NodeClaim launched for the pod with its requests relaxed) with the largest instance type
// compatible with the pod and the NodePool. When the NodeClass offers a type the requests fit
// (Karpenter's resources.Fits) but the requirements exclude it, the change is to allow it; when no
// type offered fits at all, it says so, naming the largest.
func (d describer) resources() Reason {
	r := Reason{Kind: Resources}
	overhead := corev1.ResourceList{}
	if d.claim != nil {
		overhead[corev1.ResourceCPU] = *resource.NewMilliQuantity(d.claim.CPURequestMilli, resource.DecimalSI)
		overhead[corev1.ResourceMemory] = *resource.NewQuantity(d.claim.MemoryRequest, resource.BinarySI)
	}
	req := podRequests(d.x.pod)
	names := requested(req)
	need := resources.Merge(req, overhead)
	plus := "plus DaemonSet overhead " + amounts(overhead, names)
	if overhead.Cpu().IsZero() && overhead.Memory().IsZero() {
		plus = "(no DaemonSet overhead)"
	}
	largest, fitting := d.largest(), d.smallestFitting(need)
	if largest == nil {
		r.Message = fmt.Sprintf("no compatible instance type fits the pod's requests %s %s", amounts(req, names), plus)
		r.Change = "lower the pod's requests or allow larger instance types"
		return r
	}
	room := amounts(resources.Subtract(largest.Allocatable(), overhead), names)
	if fitting == nil {
		top := d.largestOffered()
		r.Message = fmt.Sprintf("no instance type offered is large enough: the largest, %s, has allocatable %s; the pod requests %s %s",
			top.Name, amounts(top.Allocatable(), names), amounts(req, names), plus)
		if top == largest {
			r.Change = fmt.Sprintf("lower the pod's requests to fit %s (≤ %s)", largest.Name, room)
		} else {
			r.Change = fmt.Sprintf("lower the pod's requests to fit %s (≤ %s; %s, the largest type the NodePool and the pod allow)", largest.Name, room, largest.Name)
		}
		return r
	}
	r.Message = fmt.Sprintf("the largest compatible instance type, %s, has allocatable %s; the pod requests %s %s",
		largest.Name, amounts(largest.Allocatable(), names), amounts(req, names), plus)
	r.Change = fmt.Sprintf("allow larger instance types in the NodePool (%s, allocatable %s, would fit), or lower the pod's requests to fit %s (≤ %s)",
		fitting.Name, amounts(fitting.Allocatable(), names), largest.Name, room)
	return r
}

// largest is the instance type with the most allocatable CPU (then memory) among those compatible
// with the pod's and the NodePool's requirements and offered.
func (d describer) largest() *cloudprovider.InstanceType {
	reqs := scheduling.NewRequirements(scheduler.NewNodeClaimTemplate(d.np).Requirements.Values()...)
	reqs.Add(scheduling.NewStrictPodRequirements(d.x.pod).Values()...)
	var best *cloudprovider.InstanceType
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if it.Requirements.Intersects(reqs) != nil || !it.Offerings.Available().HasCompatible(reqs) {
			continue
		}
		if best == nil || bigger(it.Allocatable(), best.Allocatable()) {
			best = it
		}
	}
	return best
}

// largestOffered is the largest instance type of the NodePool's NodeClass with an available offering,
// whatever the requirements.
func (d describer) largestOffered() *cloudprovider.InstanceType {
	var best *cloudprovider.InstanceType
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if len(it.Offerings.Available()) > 0 && (best == nil || bigger(it.Allocatable(), best.Allocatable())) {
			best = it
		}
	}
	return best
}

// smallestFitting is the smallest instance type of the NodePool's NodeClass with an available
// offering whose allocatable fits need (Karpenter's resources.Fits), whatever the requirements.
func (d describer) smallestFitting(need corev1.ResourceList) *cloudprovider.InstanceType {
	var best *cloudprovider.InstanceType
	for _, it := range d.x.sim.InstanceTypes(d.np.Name) {
		if len(it.Offerings.Available()) == 0 || !resources.Fits(need, it.Allocatable()) {
			continue
		}
		if best == nil || bigger(best.Allocatable(), it.Allocatable()) {
			best = it
		}
	}
	return best
}

func bigger(a, b corev1.ResourceList) bool {
	if c := a.Cpu().Cmp(*b.Cpu()); c != 0 {
		return c > 0
	}
	return a.Memory().Cmp(*b.Memory()) > 0
}

// requested are the resources the pod requests (not zero), cpu and memory first, then by name; the
// pod count Karpenter adds is left out.
func requested(req corev1.ResourceList) []corev1.ResourceName {
	var names []corev1.ResourceName
	for n, q := range req {
		if n != corev1.ResourcePods && !q.IsZero() {
			names = append(names, n)
		}
	}
	rank := func(n corev1.ResourceName) int {
		switch n {
		case corev1.ResourceCPU:
			return 0
		case corev1.ResourceMemory:
			return 1
		}
		return 2
	}
	sort.Slice(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	return names
}

// amounts is "cpu 12, memory 1.5Gi" for the named resources, in the units a person reads: cpu in
// cores, memory and storage in Gi (Mi below 1Gi), others as counted.
func amounts(rl corev1.ResourceList, names []corev1.ResourceName) string {
	var out []string
	for _, n := range names {
		q, ok := rl[n]
		if !ok {
			q = resource.Quantity{}
		}
		out = append(out, string(n)+" "+human(n, q))
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}

func human(n corev1.ResourceName, q resource.Quantity) string {
	switch n {
	case corev1.ResourceCPU:
		return strconv.FormatFloat(float64(q.MilliValue())/1000, 'f', -1, 64)
	case corev1.ResourceMemory, corev1.ResourceEphemeralStorage, corev1.ResourceStorage:
		b := q.Value()
		if b == 0 {
			return "0"
		}
		if b < 1<<30 {
			return strconv.FormatFloat(float64(b)/(1<<20), 'f', 0, 64) + "Mi"
		}
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(float64(b)/(1<<30), 'f', 2, 64), "0"), ".") + "Gi"
	}
	return q.String()
}
