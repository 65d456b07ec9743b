package drill

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/lease"
)

// Options of a drill.
type Options struct {
	Kind Kind
	Mode Mode
	Zone string // zone-outage
	// Force overrides the gates marked overridable (a stale drill lock; a zone holding every replica).
	Force   bool
	Timeout time.Duration
	// RetryPeriod is the election retry period; the Lease does not record it. Karpenter v1.15.0
	// uses controller-runtime's 2 s and does not make it configurable.
	RetryPeriod time.Duration
	Slack       time.Duration
	// UnschedulableGrace ends the drill early (FAIL) once the leader question is settled and a
	// replacement has stayed Unschedulable this long: waiting for --timeout would add nothing.
	UnschedulableGrace time.Duration
	// Probe creates a probe pod after the action and measures when Karpenter provisions again.
	Probe bool
	// ProbeRequests overrides the probe's requests (default: half the smallest instance type's allocatable).
	ProbeRequests corev1.ResourceList
	// ProbeStartup is the new leader's controller start in the probe's bound (DefaultProbeStartup).
	ProbeStartup time.Duration
	// ProbeLaunch is the node-launch allowance (default from the NodeClass kind).
	ProbeLaunch time.Duration
	// Settings are those of the cluster's Karpenter (its Deployment's env, ConfigMaps and args): the
	// probe's instance type, batch window and Karpenter's prediction for it use them. nil: Karpenter's
	// defaults.
	Settings *ksettings.Settings
	Cluster  string // API server URL, for history
	Context  string // kubeconfig context, for history
	ID       string // generated when empty
	Now      func() time.Time
}

func (o *Options) defaults() {
	if o.Mode == "" {
		o.Mode = Evict
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if o.Slack == 0 {
		o.Slack = DefaultSlack
	}
	if o.UnschedulableGrace == 0 {
		o.UnschedulableGrace = DefaultUnschedulableGrace
	}
	if o.ProbeStartup == 0 {
		o.ProbeStartup = DefaultProbeStartup
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		o.ID = fmt.Sprintf("drill-%s-%s", o.Now().UTC().Format("20060102-150405"), hex.EncodeToString(b))
	}
}

// DefaultUnschedulableGrace gives the scheduler several retries (its backoff starts at 1 s and tops out
// at 10 s) before a replacement that cannot schedule ends the drill.
const DefaultUnschedulableGrace = 30 * time.Second

// Gate is one preflight check.
type Gate struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Overridable gates may be passed with --force; the others protect the cluster.
	Overridable bool   `json:"overridable"`
	Forced      bool   `json:"forced,omitempty"`
	Message     string `json:"message"`
	// Permission marks the RBAC gate: refusing on it is an authorisation error.
	Permission bool `json:"-"`
}

// Plan is what the drill will do.
type Plan struct {
	Leader     string `json:"leader"`
	LeaderNode string `json:"leaderNode,omitempty"`
	LeaderZone string `json:"leaderZone,omitempty"`
	// Targets are the pods the action evicts (or deletes with --mode hard).
	Targets []string `json:"targets"`
	// Cordon are the nodes to cordon (zone-outage); Skipped says which zone nodes are left alone and why.
	Cordon  []string `json:"cordon,omitempty"`
	Skipped []string `json:"skippedNodes,omitempty"`
	Steps   []string `json:"steps"`
	Expect  string   `json:"expect"`
	// Desired is the Deployment's replica count the drill waits for.
	Desired int `json:"desiredReplicas"`
	// Probe is the provisioning probe (--probe).
	Probe *ProbePlan `json:"probe,omitempty"`
}

// leaderHit reports whether the drill disrupts the leader: it is one of the targets.
func (pl Plan) leaderHit() bool { return slices.Contains(pl.Targets, pl.Leader) }

// Preflight is the gates and the plan; Refusal says whether the drill may run.
type Preflight struct {
	ID    string
	Gates []Gate
	Plan  Plan
	// Status is the lease as found.
	Status lease.Status
	k      *discovery.Karpenter
	opts   Options
}

// Kind is the kind of drill planned.
func (p *Preflight) Kind() Kind { return p.opts.Kind }

// Refusal is the first gate that stops the drill.
func (p *Preflight) Refusal() *Gate {
	for i, g := range p.Gates {
		if !g.Passed && !g.Forced {
			return &p.Gates[i]
		}
	}
	return nil
}

// Annotation and label put on every node a drill cordons; the value is the drill id. The label lets
// `drill restore` find them with a label selector after a crash.
const (
	CordonAnnotation = "karpctl.io/drill-cordoned"
	CordonLabel      = "karpctl.io/drill-cordoned"
	// LockName is the drill lock: a Lease in the Karpenter namespace held by the running drill's id.
	LockName = "karpctl-drill"
)

// Permissions are what a drill needs, asked with SelfSubjectAccessReview before anything changes.
func Permissions(k *discovery.Karpenter, o Options) []authorizationv1.ResourceAttributes {
	ns := k.Namespace
	a := []authorizationv1.ResourceAttributes{
		{Verb: "list", Resource: "pods", Namespace: ns},
		{Verb: "watch", Resource: "pods", Namespace: ns},
		{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: k.LeaseNamespace, Name: k.LeaseName},
		{Verb: "watch", Group: "coordination.k8s.io", Resource: "leases", Namespace: k.LeaseNamespace},
		{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns},
		{Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns, Name: LockName},
	}
	if o.Mode == Hard {
		a = append(a, authorizationv1.ResourceAttributes{Verb: "delete", Resource: "pods", Namespace: ns})
	} else {
		a = append(a, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: ns})
	}
	if o.Kind == ZoneOutage {
		a = append(a,
			authorizationv1.ResourceAttributes{Verb: "list", Resource: "nodes"},
			authorizationv1.ResourceAttributes{Verb: "patch", Resource: "nodes"})
	}
	if o.Probe {
		a = append(a, probePermissions(ns)...)
	}
	return a
}

// Check runs the preflight gates and builds the plan. It changes nothing.
func Check(ctx context.Context, c Client, k *discovery.Karpenter, o Options) (*Preflight, error) {
	o.defaults()
	p := &Preflight{ID: o.ID, k: k, opts: o}
	// RBAC first: a refused drill must not have changed (or half-read) anything.
	g, err := permissionsGate(ctx, c, Permissions(k, o))
	if err != nil {
		return nil, err
	}
	if p.add(g); !g.Passed {
		return p, nil
	}
	if g := installationGate(k); g != nil {
		p.add(*g)
		return p, nil
	}
	f, err := look(ctx, c, k, o)
	if err != nil {
		return nil, err
	}
	p.Plan.Desired, p.Status = int(f.desired), f.status
	readyG, ready := readyGate(f.pods)
	leaderG, leader := leaderGate(f.status, f.pods, f.nodes)
	p.add(readyG, leaseGate(k, f.status), leaderG)
	if leader != nil {
		p.Plan.Leader, p.Plan.LeaderNode = leader.Name, leader.Spec.NodeName
		p.Plan.LeaderZone = lease.ZoneOf(f.nodes[leader.Spec.NodeName])
	}
	switch o.Kind {
	case LeaderKill:
		if leader != nil {
			p.Plan.Targets = []string{leader.Name}
		}
	case ZoneOutage:
		p.add(p.planZone(f.pods, f.zone)...)
	}
	if o.Probe {
		g, err := probeGate(ctx, c, k, o, p)
		if err != nil {
			return nil, err
		}
		p.add(g)
	}
	if err := p.disruptionGate(ctx, c, f.pods, len(ready)); err != nil {
		return nil, err
	}
	lock, err := c.Lease(ctx, k.Namespace, LockName)
	if err != nil {
		return nil, err
	}
	p.add(lockGate(lock, k.Namespace, o))
	p.steps()
	return p, nil
}

func (p *Preflight) add(gs ...Gate) { p.Gates = append(p.Gates, gs...) }

// found is what the gates judge: the Karpenter pods (by name), the nodes by name (those the pods run
// on, and for a zone outage the zone's), the zone-outage's nodes (the zone's and any an earlier drill
// left cordoned), the desired replicas and the lease's status.
type found struct {
	pods    []corev1.Pod
	nodes   map[string]*corev1.Node
	zone    []corev1.Node
	desired int32
	status  lease.Status
}

// look reads what the gates judge: the pods, their nodes and, for a zone outage, the zone's nodes and
// any nodes an earlier drill left cordoned, by label selector: never a cluster-wide node list.
func look(ctx context.Context, c Client, k *discovery.Karpenter, o Options) (*found, error) {
	pl, err := c.Pods(ctx, k.Namespace, k.PodSelector.String())
	if err != nil {
		return nil, err
	}
	f := &found{pods: pl.Items, nodes: map[string]*corev1.Node{}, desired: discovery.DesiredReplicas(k.Deployment)}
	sort.Slice(f.pods, func(i, j int) bool { return f.pods[i].Name < f.pods[j].Name })
	for i := range f.pods {
		name := f.pods[i].Spec.NodeName
		if name == "" || f.nodes[name] != nil {
			continue
		}
		n, err := c.Node(ctx, name)
		if err != nil {
			if o.Kind == ZoneOutage {
				return nil, err
			}
			continue // zones only for the display: optional for leader-kill
		}
		if n != nil {
			f.nodes[name] = n
		}
	}
	if o.Kind == ZoneOutage {
		if f.zone, err = zoneNodes(ctx, c, o.Zone); err != nil {
			return nil, err
		}
		for i := range f.zone {
			f.nodes[f.zone[i].Name] = &f.zone[i]
		}
	}
	l, err := c.Lease(ctx, k.LeaseNamespace, k.LeaseName)
	if err != nil {
		return nil, err
	}
	f.status = lease.Evaluate(lease.Input{Namespace: k.LeaseNamespace, Name: k.LeaseName, Lease: l, Replicas: f.desired, Pods: f.pods, Nodes: f.nodes, Now: o.Now()})
	return f, nil
}

// zoneNodes are the nodes of zone and those an earlier drill left cordoned elsewhere.
func zoneNodes(ctx context.Context, c Client, zone string) ([]corev1.Node, error) {
	nodes, err := c.Nodes(ctx, corev1.LabelTopologyZone+"="+zone)
	if err != nil {
		return nil, err
	}
	leftovers, err := c.Nodes(ctx, CordonLabel)
	if err != nil {
		return nil, err
	}
	for _, n := range leftovers {
		if n.Labels[corev1.LabelTopologyZone] != zone {
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// planZone plans a zone outage: the zone's nodes to cordon (and those left alone, and why) and the
// replicas there to evict. Its gates: the zone has nodes, no earlier drill left cordons, and a ready
// replica survives elsewhere.
func (p *Preflight) planZone(pods []corev1.Pod, nodes []corev1.Node) []Gate {
	zone := p.opts.Zone
	var inZone, leftovers []string
	for _, n := range nodes {
		if v := n.Labels[CordonLabel]; v != "" {
			leftovers = append(leftovers, n.Name+" ("+v+")")
		}
		if lease.ZoneOf(&n) != zone {
			continue
		}
		inZone = append(inZone, n.Name)
		switch {
		case n.Labels[karpv1.NodePoolLabelKey] != "":
			p.Plan.Skipped = append(p.Plan.Skipped, n.Name+": Karpenter-managed workload node ("+karpv1.NodePoolLabelKey+"), left alone")
		case n.Spec.Unschedulable:
			p.Plan.Skipped = append(p.Plan.Skipped, n.Name+": already cordoned before the drill, stays cordoned")
		default:
			p.Plan.Cordon = append(p.Plan.Cordon, n.Name)
		}
	}
	if len(inZone) == 0 {
		return []Gate{{Name: "zone", Message: fmt.Sprintf("no node has %s=%s", corev1.LabelTopologyZone, zone)}}
	}
	gates := []Gate{zoneGate(zone, inZone, p.Plan.Cordon)}
	if g := leftoverCordonsGate(leftovers); g != nil {
		gates = append(gates, *g)
	}
	targets, survivors := zoneTargets(pods, inZone)
	p.Plan.Targets = append(p.Plan.Targets, targets...)
	return append(gates, replicasInZoneGate(zone, targets, survivors, p.opts.Force))
}

// zoneTargets are the live replicas on the zone's nodes, and how many ready ones run elsewhere.
func zoneTargets(pods []corev1.Pod, inZone []string) (targets []string, survivors int) {
	for i := range pods {
		switch {
		case !discovery.PodLive(&pods[i]):
		case slices.Contains(inZone, pods[i].Spec.NodeName):
			targets = append(targets, pods[i].Name)
		case discovery.PodReady(&pods[i]):
			survivors++
		}
	}
	return targets, survivors
}

// disruptionGate adds the pdb gate: evicting, every PodDisruptionBudget selecting a target must
// allow it; --mode hard bypasses them.
func (p *Preflight) disruptionGate(ctx context.Context, c Client, pods []corev1.Pod, ready int) error {
	switch {
	case p.opts.Mode == Evict && len(p.Plan.Targets) > 0:
		pdbs, err := c.PDBs(ctx, p.k.Namespace)
		if err != nil {
			return err
		}
		p.add(pdbGate(pdbs, pods, p.Plan.Targets, p.Plan.Desired, ready))
	case p.opts.Mode == Hard:
		p.add(Gate{Name: "pdb", Passed: true, Message: "--mode hard deletes with grace period 0 and bypasses PodDisruptionBudgets (that is the crash it simulates)"})
	}
	return nil
}
func (p *Preflight) steps() {
	o, k := p.opts, p.k
	action := "evict (Eviction API, honours PodDisruptionBudgets)"
	if o.Mode == Hard {
		action = "delete with grace period 0 (a crash: the lease cannot be released)"
	}
	s := []string{fmt.Sprintf("create the drill lock Lease %s/%s held by %s", k.Namespace, LockName, p.ID)}
	if o.Kind == ZoneOutage {
		if len(p.Plan.Cordon) > 0 {
			s = append(s, fmt.Sprintf("cordon %s and mark them %s=%s", strings.Join(p.Plan.Cordon, ", "), CordonAnnotation, p.ID))
		}
	}
	if len(p.Plan.Targets) > 0 {
		s = append(s, fmt.Sprintf("%s %s", action, strings.Join(p.Plan.Targets, ", ")))
	}
	if pr := p.Plan.Probe; pr != nil {
		s = append(s, fmt.Sprintf("create probe pod %s/%s (%s, NodePool %s, only a new node can take it) and watch it and the NodePool's NodeClaims until it runs", pr.Namespace, pr.Pod, requestsString(pr.Requests), pr.NodePool))
	}
	s = append(s, fmt.Sprintf("watch Lease %s/%s and the Karpenter pods until a leader holds the lease and %d replicas are Ready (timeout %s)", k.LeaseNamespace, k.LeaseName, p.Plan.Desired, o.Timeout))
	if p.Plan.Probe != nil {
		s = append(s, "delete the probe pod and its NodeClaim, whose node Karpenter then removes (also on error and Ctrl-C)")
	}
	if o.Kind == ZoneOutage && len(p.Plan.Cordon) > 0 {
		s = append(s, "uncordon exactly the nodes the drill cordoned (also on error and Ctrl-C)")
	}
	s = append(s, "delete the drill lock")
	p.Plan.Steps = s
	d := p.Status.LeaseDuration.Duration()
	switch {
	case !p.Plan.leaderHit():
		p.Plan.Expect = fmt.Sprintf("the leader %s is not disrupted and keeps the lease", p.Plan.Leader)
	case o.Mode == Hard:
		b, _ := Bound(Expired, d, o.RetryPeriod, o.Slack)
		p.Plan.Expect = fmt.Sprintf("the lease must expire: failover ≤ %s (lease %s + 2 × retry %s + slack)", b, d, o.RetryPeriod)
	default:
		rb, _ := Bound(Released, d, o.RetryPeriod, o.Slack)
		eb, _ := Bound(Expired, d, o.RetryPeriod, o.Slack)
		p.Plan.Expect = fmt.Sprintf("released on shutdown: failover ≤ %s; not released (Karpenter v1.15.0 never releases): expiry, failover ≤ %s", rb, eb)
	}
	if pr := p.Plan.Probe; pr != nil {
		b, why := ResumeBound(fromSeconds(pr.StartupSeconds), fromSeconds(pr.BatchMaxSeconds), o.Slack, p.Plan.leaderHit())
		after := "the new leader acquires"
		if !p.Plan.leaderHit() {
			after = "the probe is created"
		}
		p.Plan.Expect += fmt.Sprintf("; the probe's NodeClaim ≤ %s after %s (%s), the probe Running ≤ %s after it", b, after, why, fromSeconds(pr.LaunchSeconds)+o.Slack)
	}
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
