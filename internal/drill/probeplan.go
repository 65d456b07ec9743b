package drill

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/awslabs/operatorpkg/status"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/catalog"
	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
)

// ProbeLabel marks the probe pod, and its NodeClaim once known, with the drill id: `drill restore`
// finds them by it after a crash.
const ProbeLabel = "karpctl.io/drill-probe"

// ProbeImage is the probe pod's only container: it does nothing and needs no pull secret.
const ProbeImage = "registry.k8s.io/pause:3.10"

// DefaultProbeStartup is what a new leader needs before its provisioner acts: controller-runtime
// starts the leader-only controllers, which wait for their informers and for Karpenter's cluster
// state to sync. Measured with the real v1.15.0 (kwok build): see docs/drill.md.
const DefaultProbeStartup = 5 * time.Second

// Node-launch allowances, from the NodePool's NodeClass kind: a kwok node registers and turns Ready as
// soon as its NodeClaim launches (measured well under a second); a cloud instance must boot and join
// (EC2: typically 30–90 s).
const (
	KwokLaunchAllowance  = 10 * time.Second
	CloudLaunchAllowance = 3 * time.Minute
)

// ProbePlan is the probe a drill with --probe creates after its action: one pod only a new node of
// NodePool can take.
type ProbePlan struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	NodePool  string `json:"nodePool"`
	// InstanceType is the smallest instance type the NodePool can launch (the default requests' source).
	InstanceType string            `json:"instanceType,omitempty"`
	Requests     map[string]string `json:"requests"`
	RequestsFrom string            `json:"requestsFrom"`
	// ExcludedNodes counts the NodePool's existing nodes (and NodeClaims being launched) the probe's
	// node affinity rules out, by ExcludedInstanceTypes: their instance types.
	ExcludedNodes         int      `json:"excludedNodes"`
	ExcludedInstanceTypes []string `json:"excludedInstanceTypes,omitempty"`
	// PredictedInstanceType and PredictedZone are what Karpenter's scheduler, run on the live cluster
	// with the probe added, would launch for it: the type and the zone of its cheapest offering.
	// PredictedZones are all the zones its NodeClaim allows: the cloud provider picks among them (on
	// EC2, the fleet's allocation strategy).
	PredictedInstanceType string   `json:"predictedInstanceType,omitempty"`
	PredictedZone         string   `json:"predictedZone,omitempty"`
	PredictedZones        []string `json:"predictedZones,omitempty"`
	AvoidZone             string   `json:"avoidZone,omitempty"`
	// Batch window read from the Karpenter Deployment's env (defaults 1 s / 10 s).
	BatchIdleSeconds float64 `json:"batchIdleSeconds"`
	BatchMaxSeconds  float64 `json:"batchMaxSeconds"`
	StartupSeconds   float64 `json:"startupSeconds"`
	LaunchSeconds    float64 `json:"launchAllowanceSeconds"`
	LaunchFrom       string  `json:"launchAllowanceFrom"`

	pod *corev1.Pod
}

// probePermissions are what --probe adds to a drill's RBAC gate.
func probePermissions(ns string) []authorizationv1.ResourceAttributes {
	return []authorizationv1.ResourceAttributes{
		{Verb: "list", Group: "karpenter.sh", Resource: "nodepools"},
		{Verb: "list", Resource: "nodes"},
		{Verb: "delete", Resource: "nodes"},
		{Verb: "create", Resource: "pods", Namespace: ns},
		{Verb: "delete", Resource: "pods", Namespace: ns},
		{Verb: "list", Resource: "events", Namespace: ns},
		{Verb: "watch", Resource: "events", Namespace: ns},
		// Karpenter's scheduler is run on the cluster with the probe added (the reads of `plan`).
		{Verb: "list", Resource: "pods"},
		{Verb: "get", Group: "karpenter.sh", Resource: "nodeclaims"},
		{Verb: "list", Group: "karpenter.sh", Resource: "nodeclaims"},
		{Verb: "watch", Group: "karpenter.sh", Resource: "nodeclaims"},
		{Verb: "patch", Group: "karpenter.sh", Resource: "nodeclaims"},
		{Verb: "delete", Group: "karpenter.sh", Resource: "nodeclaims"},
	}
}

// probeGate plans the probe: the NodePool Karpenter tries first, the instance types of its nodes (the
// probe's node affinity leaves them out, so only a new node can take it), its smallest other instance
// type (engine.SmallestLaunchable) for the requests, and the bounds. Then Karpenter's scheduler proves
// it on the live cluster (verifyProbe): the gate passes only when it would launch a new node for it.
func probeGate(ctx context.Context, c Client, k *discovery.Karpenter, o Options, p *Preflight) (Gate, error) {
	nps, err := c.NodePools(ctx)
	if err != nil {
		return Gate{}, err
	}
	var down []string
	if o.Kind == ZoneOutage {
		down = []string{o.Zone}
	}
	pl := &ProbePlan{Pod: "karpctl-probe-" + p.ID, Namespace: k.Namespace, AvoidZone: strings.Join(down, "")}
	in := map[string]inUse{}
	exclude := func(np *karpv1.NodePool) ([]string, error) {
		u, err := instanceTypesInUse(ctx, c, np.Name)
		in[np.Name] = u
		return u.types, err
	}
	var np *karpv1.NodePool
	target, terr := engine.SmallestLaunchable(ctx, o.Settings, nps, down, exclude)
	switch {
	case terr == nil:
		np, pl.InstanceType = target.NodePool, target.InstanceType
	case o.ProbeRequests != nil:
		np = firstReady(nps) // no catalog for its NodeClass: Karpenter picks the type
	}
	if np == nil {
		return Gate{Name: "probe", Message: fmt.Sprintf("no NodePool the probe can use: %v (--probe-requests lets a NodePool whose NodeClass karpctl has no catalog for be used)", terr)}, nil
	}
	if _, ok := in[np.Name]; !ok {
		if _, err := exclude(np); err != nil {
			return Gate{}, err
		}
	}
	pl.NodePool = np.Name
	reqs := o.ProbeRequests
	if reqs == nil {
		reqs = halfOf(target.Allocatable)
		besides := ""
		if len(in[np.Name].types) > 0 {
			besides = " besides those of its nodes"
		}
		pl.RequestsFrom = fmt.Sprintf("half of %s's allocatable, the smallest instance type NodePool %s can launch%s (catalog %s)", target.InstanceType, np.Name, besides, target.Catalog)
	} else {
		pl.RequestsFrom = "--probe-requests"
	}
	pl.Requests = map[string]string{}
	for name, q := range reqs {
		pl.Requests[string(name)] = q.String()
	}
	pl.ExcludedNodes, pl.ExcludedInstanceTypes = in[np.Name].count, in[np.Name].types
	idle, max := batchWindow(o.Settings)
	pl.BatchIdleSeconds, pl.BatchMaxSeconds, pl.StartupSeconds = idle.Seconds(), max.Seconds(), o.ProbeStartup.Seconds()
	pl.LaunchSeconds, pl.LaunchFrom = launchAllowance(np, o.ProbeLaunch)
	pl.pod = probePod(pl, p.ID, np, reqs, pl.ExcludedInstanceTypes, down)
	p.Plan.Probe = pl
	launch, refusal, err := verifyProbe(ctx, c, pl, o.Settings)
	if err != nil {
		return Gate{}, err
	}
	what := fmt.Sprintf("NodePool %s: probe pod %s/%s requests %s (%s); %s", np.Name, pl.Namespace, pl.Pod, requestsString(pl.Requests), pl.RequestsFrom, exclusionString(pl))
	if refusal != "" {
		return Gate{Name: "probe", Message: what + "; but " + refusal}, nil
	}
	return Gate{Name: "probe", Passed: true, Message: what + "; " + launch}, nil
}

// inUse is what a NodePool's nodes and NodeClaims already run: their instance types and how many.
type inUse struct {
	types []string
	count int
}

// instanceTypesInUse lists the NodePool's nodes and NodeClaims (a NodeClaim being launched is capacity
// Karpenter's scheduler counts too) and returns their instance types, sorted.
func instanceTypesInUse(ctx context.Context, c Client, pool string) (inUse, error) {
	sel := karpv1.NodePoolLabelKey + "=" + pool
	nodes, err := c.Nodes(ctx, sel)
	if err != nil {
		return inUse{}, err
	}
	claims, _, err := c.NodeClaims(ctx, sel)
	if err != nil {
		return inUse{}, err
	}
	var u inUse
	claimed := map[string]bool{}
	for _, nc := range claims {
		if nc.Status.NodeName != "" {
			claimed[nc.Status.NodeName] = true
		}
		if t := nc.Labels[corev1.LabelInstanceTypeStable]; t != "" {
			u.types = append(u.types, t)
		}
		u.count++
	}
	for _, n := range nodes {
		if t := n.Labels[corev1.LabelInstanceTypeStable]; t != "" {
			u.types = append(u.types, t)
		}
		if !claimed[n.Name] {
			u.count++
		}
	}
	slices.Sort(u.types)
	u.types = slices.Compact(u.types)
	return u, nil
}

func exclusionString(pl *ProbePlan) string {
	if len(pl.ExcludedInstanceTypes) == 0 {
		return "the NodePool has no nodes, so only a new node can take it"
	}
	return fmt.Sprintf("its node affinity leaves out the instance types of the NodePool's %d node(s) and NodeClaim(s) (%s), so only a new node can take it",
		pl.ExcludedNodes, strings.Join(pl.ExcludedInstanceTypes, ", "))
}

// firstReady is the first NodePool in Karpenter's order whose Ready condition is True.
func firstReady(nps []*karpv1.NodePool) *karpv1.NodePool {
	ordered := append([]*karpv1.NodePool(nil), nps...)
	nodepoolutils.OrderByWeight(ordered)
	for _, np := range ordered {
		if np.DeletionTimestamp == nil && readyAsStored(np.GetConditions()) {
			return np
		}
	}
	return nil
}

// readyAsStored reports the stored Ready condition (StatusConditions() would recompute it from the
// dependent conditions, initialising missing ones to Unknown).
func readyAsStored(conds []status.Condition) bool {
	return slices.ContainsFunc(conds, func(c status.Condition) bool { return c.Type == status.ConditionReady && c.IsTrue() })
}

// halfOf is half the CPU and memory of an allocatable: a new node of that type takes it with room for
// DaemonSets, and no pod this small is mistaken for a real workload's.
func halfOf(alloc corev1.ResourceList) corev1.ResourceList {
	cpu := alloc.Cpu().MilliValue() / 2
	mem := alloc.Memory().Value() / 2 / (1 << 20)
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(cpu, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(mem<<20, resource.BinarySI),
	}
}

// batchWindow is Karpenter's batch window (BATCH_IDLE_DURATION, BATCH_MAX_DURATION) as its own
// option parser reads the Deployment's settings (nil: Karpenter's defaults).
func batchWindow(s *ksettings.Settings) (idle, max time.Duration) {
	o := s.Options()
	return o.BatchIdleDuration, o.BatchMaxDuration
}

func launchAllowance(np *karpv1.NodePool, given time.Duration) (float64, string) {
	if given > 0 {
		return given.Seconds(), "--probe-launch"
	}
	if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil && ref.GroupKind() == catalog.KWOKNodeClass {
		return KwokLaunchAllowance.Seconds(), "kwok nodes register and turn Ready as soon as their NodeClaim launches"
	}
	return CloudLaunchAllowance.Seconds(), "a cloud instance boots and joins (EC2: typically 30–90 s)"
}

// probePod is a pause pod only a new node of np can take: it selects the NodePool, tolerates its
// taints, and its node affinity leaves out the instance types of the NodePool's nodes (excludedTypes)
// and the lost zone of a zone outage. Karpenter refuses a pod that constrains kubernetes.io/hostname
// (v1.RestrictedLabels); node.kubernetes.io/instance-type is one of its well-known labels, which it
// schedules with: it launches a NodeClaim of another type for the probe.
func probePod(pl *ProbePlan, id string, np *karpv1.NodePool, reqs corev1.ResourceList, excludedTypes, zonesDown []string) *corev1.Pod {
	var terms []corev1.NodeSelectorRequirement
	if len(excludedTypes) > 0 {
		terms = append(terms, corev1.NodeSelectorRequirement{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpNotIn, Values: excludedTypes})
	}
	if len(zonesDown) > 0 {
		terms = append(terms, corev1.NodeSelectorRequirement{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpNotIn, Values: zonesDown})
	}
	var affinity *corev1.Affinity
	if len(terms) > 0 {
		affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: terms}}}}}
	}
	var tolerations []corev1.Toleration
	for _, t := range np.Spec.Template.Spec.Taints {
		tolerations = append(tolerations, corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpEqual, Value: t.Value, Effect: t.Effect})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: pl.Namespace, Name: pl.Pod,
			Labels:      map[string]string{ProbeLabel: id, "app.kubernetes.io/managed-by": "karpctl"},
			Annotations: map[string]string{"karpctl.io/drill-probe-purpose": "measures how long Karpenter takes to provision again after a drill; deleted when the drill ends"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			NodeSelector:                  map[string]string{karpv1.NodePoolLabelKey: np.Name},
			Affinity:                      affinity,
			Tolerations:                   tolerations,
			Containers: []corev1.Container{{Name: "pause", Image: ProbeImage,
				Resources: corev1.ResourceRequirements{Requests: reqs}}},
		},
	}
}

func requestsString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// ParseRequests parses --probe-requests "cpu=500m,memory=512Mi".
func ParseRequests(s string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--probe-requests %q: want NAME=QUANTITY[,NAME=QUANTITY], e.g. cpu=500m,memory=512Mi", s)
		}
		q, err := resource.ParseQuantity(val)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("--probe-requests %q: %s=%s is not a positive quantity", s, name, val)
		}
		out[corev1.ResourceName(name)] = q
	}
	return out, nil
}
