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
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/pdb"
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
	Cluster     string // API server URL, for history
	Context     string // kubeconfig context, for history
	ID          string // generated when empty
	Now         func() time.Time
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
	add := func(g Gate) { p.Gates = append(p.Gates, g) }

	// RBAC first: a refused drill must not have changed (or half-read) anything.
	var missing []string
	for _, a := range Permissions(k, o) {
		ok, _, err := c.Allowed(ctx, a)
		if err != nil {
			return nil, err
		}
		if !ok {
			where := ""
			if a.Namespace != "" {
				where = " in namespace " + a.Namespace
			}
			missing = append(missing, fmt.Sprintf("%s %s%s", a.Verb, resourceName(a), where))
		}
	}
	if len(missing) > 0 {
		add(Gate{Name: "permissions", Permission: true, Message: "missing RBAC permission: " + strings.Join(missing, "; ")})
		return p, nil
	}
	add(Gate{Name: "permissions", Passed: true, Message: "allowed: every verb the drill needs (SelfSubjectAccessReview)"})

	if k.Deployment == nil || k.PodSelector == nil {
		add(Gate{Name: "deployment", Message: "no Karpenter Deployment found: a drill needs one to recreate the pods"})
		return p, nil
	}
	if k.LeaderElectionDisabled {
		add(Gate{Name: "leader-election", Message: "DISABLE_LEADER_ELECTION=true: there is no leader to fail over"})
		return p, nil
	}
	pl, err := c.Pods(ctx, k.Namespace, k.PodSelector.String())
	if err != nil {
		return nil, err
	}
	pods := pl.Items
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	// Nodes by name for the replicas, and for a zone outage the zone's nodes and any nodes an earlier
	// drill left cordoned, by label selector: never a cluster-wide node list.
	nodeMap := map[string]*corev1.Node{}
	for i := range pods {
		name := pods[i].Spec.NodeName
		if name == "" || nodeMap[name] != nil {
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
			nodeMap[name] = n
		}
	}
	var nodes []corev1.Node
	if o.Kind == ZoneOutage {
		if nodes, err = c.Nodes(ctx, corev1.LabelTopologyZone+"="+o.Zone); err != nil {
			return nil, err
		}
		leftovers, err := c.Nodes(ctx, CordonLabel)
		if err != nil {
			return nil, err
		}
		for _, n := range leftovers {
			if n.Labels[corev1.LabelTopologyZone] != o.Zone {
				nodes = append(nodes, n)
			}
		}
		for i := range nodes {
			nodeMap[nodes[i].Name] = &nodes[i]
		}
	}
	l, err := c.Lease(ctx, k.LeaseNamespace, k.LeaseName)
	if err != nil {
		return nil, err
	}
	desired := discovery.DesiredReplicas(k.Deployment)
	p.Plan.Desired = int(desired)
	p.Status = lease.Evaluate(lease.Input{Namespace: k.LeaseNamespace, Name: k.LeaseName, Lease: l, Replicas: desired, Pods: pods, Nodes: nodeMap, Now: o.Now()})

	// ≥ 2 ready replicas.
	var ready []string
	for i := range pods {
		if discovery.PodLive(&pods[i]) && discovery.PodReady(&pods[i]) {
			ready = append(ready, pods[i].Name)
		}
	}
	if len(ready) >= 2 {
		add(Gate{Name: "ready-replicas", Passed: true, Message: fmt.Sprintf("%d ready: %s", len(ready), strings.Join(ready, ", "))})
	} else {
		add(Gate{Name: "ready-replicas", Message: fmt.Sprintf("%d ready replica(s) (%s): a drill needs ≥ 2, or there is nobody to take over", len(ready), strings.Join(ready, ", "))})
	}
	// Lease Healthy.
	if p.Status.Verdict == lease.Healthy {
		add(Gate{Name: "lease", Passed: true, Message: fmt.Sprintf("%s/%s Healthy: %s", k.LeaseNamespace, k.LeaseName, p.Status.Reason)})
	} else {
		add(Gate{Name: "lease", Message: fmt.Sprintf("%s/%s is %s: %s", k.LeaseNamespace, k.LeaseName, p.Status.Verdict, p.Status.Reason)})
	}
	// Leader is a known pod.
	var leader *corev1.Pod
	if h := p.Status.Holder; h != nil && h.Pod != "" {
		for i := range pods {
			if pods[i].Name == h.Pod {
				leader = &pods[i]
			}
		}
	}
	if leader != nil {
		p.Plan.Leader, p.Plan.LeaderNode = leader.Name, leader.Spec.NodeName
		p.Plan.LeaderZone = lease.ZoneOf(nodeMap[leader.Spec.NodeName])
		add(Gate{Name: "leader", Passed: true, Message: fmt.Sprintf("%s on node %s (zone %s) holds the lease", leader.Name, orNone(leader.Spec.NodeName), orNone(p.Plan.LeaderZone))})
	} else {
		add(Gate{Name: "leader", Message: fmt.Sprintf("holder %q is not a known Karpenter pod", p.Status.HolderIdentity)})
	}

	// Targets.
	switch o.Kind {
	case LeaderKill:
		if leader != nil {
			p.Plan.Targets = []string{leader.Name}
		}
	case ZoneOutage:
		zoneGates(p, o, pods, nodes, nodeMap, add)
	}

	if o.Probe {
		g, err := probeGate(ctx, c, k, o, p)
		if err != nil {
			return nil, err
		}
		add(g)
	}

	// PDB permits the disruption.
	if o.Mode == Evict && len(p.Plan.Targets) > 0 {
		pdbs, err := c.PDBs(ctx, k.Namespace)
		if err != nil {
			return nil, err
		}
		add(pdbGate(pdbs, pods, p.Plan.Targets, p.Plan.Desired, len(ready)))
	} else if o.Mode == Hard {
		add(Gate{Name: "pdb", Passed: true, Message: "--mode hard deletes with grace period 0 and bypasses PodDisruptionBudgets (that is the crash it simulates)"})
	}

	// No drill already running.
	lock, err := c.Lease(ctx, k.Namespace, LockName)
	if err != nil {
		return nil, err
	}
	if lock == nil {
		add(Gate{Name: "drill-lock", Passed: true, Message: fmt.Sprintf("no other drill running (no Lease %s/%s)", k.Namespace, LockName)})
	} else {
		holder, since := "", lock.CreationTimestamp.Time
		if lock.Spec.HolderIdentity != nil {
			holder = *lock.Spec.HolderIdentity
		}
		if lock.Spec.AcquireTime != nil {
			since = lock.Spec.AcquireTime.Time
		}
		age := o.Now().Sub(since)
		if age > o.Timeout {
			add(Gate{Name: "drill-lock", Overridable: true, Forced: o.Force, Message: fmt.Sprintf("stale lock: drill %s started %s ago (> timeout %s); --force takes it over, `drill restore` cleans up after it", holder, age.Round(time.Second), o.Timeout)})
		} else {
			add(Gate{Name: "drill-lock", Message: fmt.Sprintf("drill %s is running (Lease %s/%s, started %s ago)", holder, k.Namespace, LockName, age.Round(time.Second))})
		}
	}
	p.steps()
	return p, nil
}

func zoneGates(p *Preflight, o Options, pods []corev1.Pod, nodes []corev1.Node, nodeMap map[string]*corev1.Node, add func(Gate)) {
	var inZone []string
	inZoneSet := map[string]bool{}
	var leftovers []string
	for _, n := range nodes {
		if v := n.Labels[CordonLabel]; v != "" {
			leftovers = append(leftovers, n.Name+" ("+v+")")
		}
		if lease.ZoneOf(&n) != o.Zone {
			continue
		}
		inZone = append(inZone, n.Name)
		inZoneSet[n.Name] = true
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
		add(Gate{Name: "zone", Message: fmt.Sprintf("no node has %s=%s", corev1.LabelTopologyZone, o.Zone)})
		return
	}
	add(Gate{Name: "zone", Passed: true, Message: fmt.Sprintf("%d node(s) in %s; will cordon %d: %s", len(inZone), o.Zone, len(p.Plan.Cordon), orNone(strings.Join(p.Plan.Cordon, ", ")))})
	if len(leftovers) > 0 {
		add(Gate{Name: "leftover-cordons", Message: "nodes still cordoned by an earlier drill: " + strings.Join(leftovers, ", ") + "; run `kubectl karpctl drill restore` first"})
	}
	survivors := 0
	for i := range pods {
		if !discovery.PodLive(&pods[i]) {
			continue
		}
		if inZoneSet[pods[i].Spec.NodeName] {
			p.Plan.Targets = append(p.Plan.Targets, pods[i].Name)
		} else if discovery.PodReady(&pods[i]) {
			survivors++
		}
	}
	switch {
	case len(p.Plan.Targets) == 0:
		add(Gate{Name: "replicas-in-zone", Passed: true, Message: fmt.Sprintf("no Karpenter replica runs in %s: the drill only cordons and checks the leader stays", o.Zone)})
	case survivors == 0:
		add(Gate{Name: "replicas-in-zone", Overridable: true, Forced: o.Force, Message: fmt.Sprintf("every ready replica runs in %s (%s): the drill would take Karpenter down entirely; --force to do it anyway", o.Zone, strings.Join(p.Plan.Targets, ", "))})
	default:
		add(Gate{Name: "replicas-in-zone", Passed: true, Message: fmt.Sprintf("%d replica(s) in %s (%s), %d ready elsewhere", len(p.Plan.Targets), o.Zone, strings.Join(p.Plan.Targets, ", "), survivors)})
	}
}

// pdbGate: every PDB selecting a target must allow the disruptions (its status when the disruption
// controller has computed it, else what the controller would compute from its spec, the desired
// replicas and the ready count).
func pdbGate(pdbs []policyv1.PodDisruptionBudget, pods []corev1.Pod, targets []string, desired, ready int) Gate {
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var notes []string
	for _, b := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		n := 0
		for _, t := range targets {
			if p := byName[t]; p != nil && sel.Matches(labels.Set(p.Labels)) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		allowed, how := b.Status.DisruptionsAllowed, "status.disruptionsAllowed"
		if b.Status.ObservedGeneration < b.Generation || b.Status.ObservedGeneration == 0 {
			how = "spec (status not computed yet)"
			if allowed, err = pdb.Allowed(b.Spec, int32(desired), int32(ready)); err != nil {
				return Gate{Name: "pdb", Message: fmt.Sprintf("PodDisruptionBudget %s: %v", b.Name, err)}
			}
		}
		if allowed < 1 {
			return Gate{Name: "pdb", Message: fmt.Sprintf("PodDisruptionBudget %s allows %d disruption(s) (%s): the eviction would be refused", b.Name, allowed, how)}
		}
		notes = append(notes, fmt.Sprintf("%s allows %d", b.Name, allowed))
	}
	if len(notes) == 0 {
		return Gate{Name: "pdb", Passed: true, Message: "no PodDisruptionBudget selects the target pods"}
	}
	return Gate{Name: "pdb", Passed: true, Message: "PodDisruptionBudget " + strings.Join(notes, ", ")}
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
	d := p.Status.LeaseDuration
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
