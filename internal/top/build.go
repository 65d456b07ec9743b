package top

import (
	"sort"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	resourcehelper "k8s.io/component-helpers/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/units"
)

// HoursPerMonth turns $/h into $/month, as AWS's pricing pages do.
const HoursPerMonth = 730

// Input is everything Build looks at.
type Input struct {
	Cluster, Context string
	// Snapshot is the cluster as the caches hold it (never modified).
	Snapshot *engine.Snapshot
	// Karpenter is the installation (nil when not found, with KarpenterError); Lease its Lease
	// (nil when none); KarpenterPods its pods.
	Karpenter      *discovery.Karpenter
	KarpenterError string
	Lease          *coordinationv1.Lease
	KarpenterPods  []corev1.Pod
	// Predictions are the last background computations (nil before the first).
	Predictions *Predictions
	Connection  Connection
	Forbidden   []Forbidden
	View        View
	Now         time.Time
	// Requests, when set, keeps the pods' requests from one Build to the next (nil: computed).
	Requests *RequestMemo
}

// View is how the user asked to see the nodes.
type View struct {
	// Resources shown in the bars; DefaultResources when empty.
	Resources []string
	Sort      SortKey
	// Selector filters the nodes (-l); nil for all.
	Selector labels.Selector
	// PredictInterval is how often predictions are recomputed.
	PredictInterval time.Duration
}

// DefaultResources are what the bars show without --resources.
var DefaultResources = []string{string(corev1.ResourceCPU)}

// Build computes the Screen. It reads in and never modifies it.
func Build(in Input) *Screen {
	v := in.View
	if len(v.Resources) == 0 {
		v.Resources = DefaultResources
	}
	if v.Sort == "" {
		v.Sort = SortNodePool
	}
	snap := in.Snapshot
	if snap == nil {
		snap = &engine.Snapshot{}
	}
	s := &Screen{
		Cluster: in.Cluster, Context: in.Context, ObservedAt: in.Now, Connection: in.Connection,
		Forbidden: append([]Forbidden{}, in.Forbidden...), Resources: v.Resources, Sort: string(v.Sort),
		PendingPods: len(snap.PendingPods), NodePools: []NodePoolRow{}, Nodes: []NodeRow{}, Pending: []PendingPod{},
		Warnings: []string{},
	}
	for _, w := range snap.Warnings {
		s.Warnings = append(s.Warnings, w.Message)
	}
	s.Karpenter = karpenter(in)
	s.KarpenterSettings = snap.Karpenter
	p := in.Predictions
	if p == nil {
		p = &Predictions{}
	}
	s.Next = next(p, v.PredictInterval)
	s.Nodes = nodes(snap, p, v, in.Now, in.Requests)
	s.NodePools = nodePools(snap, s.Nodes, p, v)
	s.Pending = pending(snap, p, in.Now)
	for _, n := range s.Nodes {
		if n.PricePerHour != nil && n.NodePool != "" {
			s.PricePerHour += *n.PricePerHour
		}
	}
	if v.Selector != nil && !v.Selector.Empty() {
		// The cost is the cluster's, whatever the filter: add the nodes the filter hides.
		s.PricePerHour = 0
		for _, n := range snap.Nodes {
			if price, ok := p.Prices[n.Name]; ok && n.Labels[karpv1.NodePoolLabelKey] != "" {
				s.PricePerHour += price
			}
		}
	}
	s.PricePerMonth = s.PricePerHour * HoursPerMonth
	return s
}

func karpenter(in Input) Karpenter {
	k := in.Karpenter
	if k == nil {
		return Karpenter{Error: in.KarpenterError}
	}
	out := Karpenter{Namespace: k.Namespace, Deployment: k.Name, Version: k.Version}
	if k.LeaseName == "" {
		return out
	}
	nodes := map[string]*corev1.Node{}
	if in.Snapshot != nil {
		for _, n := range in.Snapshot.Nodes {
			nodes[n.Name] = n
		}
	}
	var replicas int32
	if k.Deployment != nil {
		replicas = discovery.DesiredReplicas(k.Deployment)
	}
	st := lease.Evaluate(lease.Input{
		Namespace: k.LeaseNamespace, Name: k.LeaseName, Lease: in.Lease, Disabled: k.LeaderElectionDisabled,
		Replicas: replicas, Pods: in.KarpenterPods, Nodes: nodes, Now: in.Now,
	})
	out.Lease = &st
	if st.Holder != nil {
		out.Leader = st.Holder.Pod
		if out.Leader == "" {
			out.Leader = st.Holder.Hostname
		}
	}
	if st.AcquireTime != nil {
		out.LeaderFor = units.Seconds(in.Now.Sub(*st.AcquireTime))
	}
	return out
}

// nodeLoad is the bound pods' requests summed on a node, and their count.
type nodeLoad struct {
	requests corev1.ResourceList
	pods     int
}

func loads(snap *engine.Snapshot, memo *RequestMemo) map[string]*nodeLoad {
	out := map[string]*nodeLoad{}
	requests := memo.begin(len(snap.Pods))
	defer memo.end()
	for _, p := range snap.Pods {
		l := out[p.Spec.NodeName]
		if l == nil {
			l = &nodeLoad{requests: corev1.ResourceList{}}
			out[p.Spec.NodeName] = l
		}
		l.pods++
		for name, q := range requests(p) {
			sum := l.requests[name]
			sum.Add(q)
			l.requests[name] = sum
		}
	}
	return out
}

// RequestMemo keeps each bound pod's requests (Kubernetes' PodRequests: containers, init and
// sidecar containers, overhead) from one build to the next. The caches never modify an object: a
// changed pod is a new one, so a pod seen before has the requests it had. Pods no longer seen are
// forgotten at the end of each build. The zero value is ready; a nil memo computes every time.
type RequestMemo struct {
	mu         sync.Mutex
	last, next map[*corev1.Pod]corev1.ResourceList
}

// begin starts a build over n pods and returns the lookup; end must follow.
func (m *RequestMemo) begin(n int) func(*corev1.Pod) corev1.ResourceList {
	if m == nil {
		return func(p *corev1.Pod) corev1.ResourceList {
			return resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		}
	}
	m.mu.Lock()
	m.next = make(map[*corev1.Pod]corev1.ResourceList, n)
	return func(p *corev1.Pod) corev1.ResourceList {
		r, ok := m.last[p]
		if !ok {
			r = resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		}
		m.next[p] = r
		return r
	}
}

func (m *RequestMemo) end() {
	if m == nil {
		return
	}
	m.last, m.next = m.next, nil
	m.mu.Unlock()
}

// amount is l's quantity of a resource in its base unit (cores for cpu).
func amount(l corev1.ResourceList, name string) float64 {
	q := l[corev1.ResourceName(name)]
	if name == string(corev1.ResourceCPU) {
		return float64(q.MilliValue()) / 1000
	}
	return q.AsApproximateFloat64()
}

func nodes(snap *engine.Snapshot, p *Predictions, v View, now time.Time, memo *RequestMemo) []NodeRow {
	byNode := loads(snap, memo)
	claims := map[string]*karpv1.NodeClaim{}
	for _, nc := range snap.NodeClaims {
		if nc.Status.NodeName != "" {
			claims[nc.Status.NodeName] = nc
		}
	}
	rows := []NodeRow{}
	for _, n := range snap.Nodes {
		if v.Selector != nil && !v.Selector.Matches(labels.Set(n.Labels)) {
			continue
		}
		r := NodeRow{
			Name: n.Name, NodePool: n.Labels[karpv1.NodePoolLabelKey], InstanceType: n.Labels[corev1.LabelInstanceTypeStable],
			Zone: n.Labels[corev1.LabelTopologyZone], CapacityType: n.Labels[karpv1.CapacityTypeLabelKey],
			Created: n.CreationTimestamp.Time, Age: units.Seconds(now.Sub(n.CreationTimestamp.Time)), Usage: map[string]Usage{},
			Cordoned: n.Spec.Unschedulable, DoNotDisrupt: n.Annotations[karpv1.DoNotDisruptAnnotationKey] == "true",
		}
		if price, ok := p.Prices[n.Name]; ok {
			r.PricePerHour = &price
		}
		l := byNode[n.Name]
		if l == nil {
			l = &nodeLoad{}
		}
		r.Pods = l.pods
		for _, res := range v.Resources {
			r.Usage[res] = Usage{Requested: amount(l.requests, res), Allocatable: amount(n.Status.Allocatable, res)}
		}
		if nc := claims[n.Name]; nc != nil {
			if c := nc.StatusConditions().Get(karpv1.ConditionTypeDrifted); c != nil && c.IsTrue() {
				r.Drifted = true
			}
		}
		r.Disrupt, r.Disruption = p.disruption(n.Name)
		rows = append(rows, r)
	}
	sortNodes(rows, v.Sort, v.Resources[0])
	return rows
}

func nodePools(snap *engine.Snapshot, rows []NodeRow, p *Predictions, v View) []NodePoolRow {
	out := []NodePoolRow{}
	index := map[string]int{}
	for _, np := range snap.NodePools {
		r := NodePoolRow{Name: np.Name, Usage: map[string]Usage{}, Weight: ptrDeref(np.Spec.Weight)}
		if c := np.StatusConditions().Get("Ready"); c != nil && c.IsTrue() {
			r.Ready = true
		}
		for name, limit := range np.Spec.Limits {
			if limit.IsZero() {
				continue
			}
			used := np.Status.Resources[name]
			f := used.AsApproximateFloat64() / limit.AsApproximateFloat64()
			if r.LimitUse == nil || f > *r.LimitUse {
				r.LimitUse, r.LimitResource = &f, string(name)
			}
		}
		r.BudgetAllowed = p.budgets(np.Name)
		index[np.Name] = len(out)
		out = append(out, r)
	}
	for _, n := range rows {
		i, ok := index[n.NodePool]
		if !ok {
			continue
		}
		r := &out[i]
		r.Nodes++
		if n.PricePerHour != nil {
			r.PricePerHour += *n.PricePerHour
		}
		for res, u := range n.Usage {
			sum := r.Usage[res]
			sum.Requested += u.Requested
			sum.Allocatable += u.Allocatable
			r.Usage[res] = sum
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Weight != out[b].Weight {
			return out[a].Weight > out[b].Weight
		}
		return out[a].Name < out[b].Name
	})
	return out
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func pending(snap *engine.Snapshot, p *Predictions, now time.Time) []PendingPod {
	out := []PendingPod{}
	for _, pod := range snap.PendingPods {
		key := pod.Namespace + "/" + pod.Name
		out = append(out, PendingPod{Namespace: pod.Namespace, Name: pod.Name, Age: units.Seconds(now.Sub(pod.CreationTimestamp.Time)), Plan: p.podPlan[key]})
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Age != out[b].Age {
			return out[a].Age > out[b].Age
		}
		return out[a].Namespace+"/"+out[a].Name < out[b].Namespace+"/"+out[b].Name
	})
	return out
}

// Matches reports whether a node row matches a filter typed with `/`: a substring of its name,
// NodePool, instance type, zone or capacity type.
func (r NodeRow) Matches(filter string) bool {
	if filter == "" {
		return true
	}
	f := strings.ToLower(filter)
	for _, s := range []string{r.Name, r.NodePool, r.InstanceType, r.Zone, r.CapacityType} {
		if strings.Contains(strings.ToLower(s), f) {
			return true
		}
	}
	return false
}
