package drill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Probe timeline event kinds.
const (
	EvProbeCreated       = "probe-created"
	EvProbeUnschedulable = "probe-unschedulable"
	EvProbeNodeClaim     = "nodeclaim-created"
	EvProbeNodeReady     = "nodeclaim-ready"
	EvProbeScheduled     = "probe-scheduled"
	EvProbeAttributed    = "probe-nodeclaim"
	EvProbeRunning       = "probe-running"
	EvProbeFailed        = "probe-failed"
	EvProbeRefused       = "karpenter-refused"
	EvProbeNominated     = "probe-nominated"
	EvProbeDeleted       = "probe-deleted"
)

// prober runs the probe of one drill: it creates the pod, follows it and the NodePool's NodeClaims,
// and sends its timeline events on a channel that it closes once the pod runs (or the probe failed).
type prober struct {
	ctx  context.Context
	c    Client
	plan *ProbePlan
	id   string
	now  func() time.Time
	evs  chan Event

	mu sync.Mutex
	// Observed times (by karpctl's clock, like every pod milestone of the drill).
	created, unschedulable, scheduled, running time.Time
	node                                       string
	claims                                     map[string]*probeClaim // NodeClaims created after the probe
	claim                                      string                 // the one the probe runs on
	failure                                    string
	err                                        error // the API error the probe failed on
	// What Karpenter said about the probe pod (its FailedScheduling and Nominated events).
	refusal              string
	refused, nominatedAt time.Time
	preexisting          map[string]bool
}

type probeClaim struct {
	name, instanceType, node, zone string
	seen, ready                    time.Time
	creation                       time.Time // metadata.creationTimestamp (the API server's, whole seconds)
}

// startProbe opens the watches, then creates the probe pod, and follows both in the background until
// ctx ends or the pod runs.
func startProbe(ctx context.Context, c Client, pl *ProbePlan, id string, now func() time.Time) *prober {
	pr := &prober{ctx: ctx, c: c, plan: pl, id: id, now: now, evs: make(chan Event, 64), claims: map[string]*probeClaim{}, preexisting: map[string]bool{}}
	podSel := ProbeLabel + "=" + id
	fail := func(err error) *prober {
		pr.err, pr.failure = err, err.Error()
		pr.send(Event{Time: now(), Kind: EvProbeFailed, Detail: pr.failure})
		close(pr.evs)
		return pr
	}
	pods, err := c.Pods(ctx, pl.Namespace, podSel)
	if err != nil {
		return fail(err)
	}
	podW, err := retryWatch(ctx, pods.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return c.WatchPods(ctx, pl.Namespace, podSel, rv)
	})
	if err != nil {
		return fail(fmt.Errorf("watching the probe pod: %w", err))
	}
	claimSel := karpv1.NodePoolLabelKey + "=" + pl.NodePool
	existing, rv, err := c.NodeClaims(ctx, claimSel)
	if err != nil {
		podW.Stop()
		return fail(err)
	}
	for _, nc := range existing {
		pr.preexisting[nc.Name] = true
	}
	claimW, err := retryWatch(ctx, rv, func(ctx context.Context, rv string) (watch.Interface, error) {
		return c.WatchNodeClaims(ctx, claimSel, rv)
	})
	if err != nil {
		podW.Stop()
		return fail(fmt.Errorf("watching NodeClaims of NodePool %s: %w", pl.NodePool, err))
	}
	evSel := probeEventsSelector(pl.Pod)
	evs, err := c.Events(ctx, pl.Namespace, evSel)
	if err != nil {
		podW.Stop()
		claimW.Stop()
		return fail(err)
	}
	evW, err := retryWatch(ctx, evs.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return c.WatchEvents(ctx, pl.Namespace, evSel, rv)
	})
	if err != nil {
		podW.Stop()
		claimW.Stop()
		return fail(fmt.Errorf("watching the probe pod's events: %w", err))
	}
	pod := pl.pod.DeepCopy()
	if ProbePodHook != nil {
		ProbePodHook(pod)
	}
	if _, err := c.CreatePod(ctx, pod); err != nil {
		podW.Stop()
		claimW.Stop()
		evW.Stop()
		return fail(err)
	}
	pr.created = now()
	pr.send(Event{Time: pr.created, Kind: EvProbeCreated, Detail: fmt.Sprintf("%s/%s requests %s, NodePool %s", pl.Namespace, pl.Pod, requestsString(pl.Requests), pl.NodePool)})
	go pr.follow(ctx, podW, claimW, evW)
	return pr
}

// ProbePodHook, when set, changes the probe pod just before the drill creates it, after the preflight
// proved the planned one with Karpenter's scheduler. Tests only: it lets them create a probe Karpenter
// refuses and check that the drill says so.
var ProbePodHook func(*corev1.Pod)

// startProbeFor starts the probe the preflight planned; nil when the drill has none.
func startProbeFor(ctx context.Context, c Client, p *Preflight, now func() time.Time) *prober {
	if p.Plan.Probe == nil {
		return nil
	}
	return startProbe(ctx, c, p.Plan.Probe, p.ID, now)
}

// send passes an event on unless the drill has stopped listening.
func (pr *prober) send(e Event) {
	select {
	case pr.evs <- e:
	case <-pr.ctx.Done():
	}
}

// Events is the probe's timeline; nil (blocks forever) for a drill without a probe.
func (pr *prober) Events() <-chan Event {
	if pr == nil {
		return nil
	}
	return pr.evs
}

// attributionWait bounds how long the probe, once running, waits for the NodeClaim of its node to show
// that node in its status (the pod and NodeClaim watches are not ordered with each other).
const attributionWait = 15 * time.Second

func (pr *prober) follow(ctx context.Context, podW, claimW, evW watch.Interface) {
	defer close(pr.evs)
	defer podW.Stop()
	defer claimW.Stop()
	defer evW.Stop()
	var giveUp <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-giveUp:
			return
		case ev, ok := <-claimW.ResultChan():
			if !ok {
				return
			}
			if nc, isClaim := ev.Object.(*karpv1.NodeClaim); isClaim && ev.Type != watch.Deleted {
				pr.onClaim(nc)
				pr.attribute(ctx)
			}
		case ev, ok := <-podW.ResultChan():
			if !ok {
				return
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type != watch.Deleted {
				pr.onPod(p)
				pr.attribute(ctx)
			}
		case ev, ok := <-evW.ResultChan():
			if !ok {
				return
			}
			if e, isEvent := ev.Object.(*corev1.Event); isEvent && ev.Type != watch.Deleted && pr.onEvent(e) {
				return // Karpenter refused the probe: it will not change its mind about the same pod
			}
		}
		running, attributed := pr.progress()
		if running && attributed {
			return
		}
		if giveUp == nil && running {
			giveUp = time.After(attributionWait)
		}
	}
}

// progress reports whether the probe runs and whether its NodeClaim is known.
func (pr *prober) progress() (running, attributed bool) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return !pr.running.IsZero(), pr.claim != ""
}

// attribute names the probe's NodeClaim once the pod is bound and a NodeClaim created after the probe
// shows that node, and labels it with the drill id, so that `drill restore` finds it after a crash.
func (pr *prober) attribute(ctx context.Context) {
	pr.mu.Lock()
	if pr.claim != "" || pr.node == "" {
		pr.mu.Unlock()
		return
	}
	pr.claim = pr.claimOn(pr.node)
	claim, node := pr.claim, pr.node
	pr.mu.Unlock()
	if claim == "" {
		return
	}
	detail := fmt.Sprintf("%s (node %s) is the probe's NodeClaim", claim, node)
	if err := pr.c.PatchNodeClaim(ctx, claim, []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, ProbeLabel, pr.id))); err != nil {
		detail += fmt.Sprintf(" (could not label it %s=%s: %v)", ProbeLabel, pr.id, err)
	}
	pr.send(Event{Time: pr.now(), Kind: EvProbeAttributed, Detail: detail})
}

func (pr *prober) onClaim(nc *karpv1.NodeClaim) {
	if pr.preexisting[nc.Name] {
		return
	}
	now := pr.now()
	pr.mu.Lock()
	cl := pr.claims[nc.Name]
	isNew := cl == nil
	if isNew {
		cl = &probeClaim{name: nc.Name, seen: now, creation: nc.CreationTimestamp.Time}
		pr.claims[nc.Name] = cl
	}
	cl.instanceType, cl.node, cl.zone = nc.Labels[corev1.LabelInstanceTypeStable], nc.Status.NodeName, nc.Labels[corev1.LabelTopologyZone]
	becameReady := cl.ready.IsZero() && readyAsStored(nc.GetConditions())
	if becameReady {
		cl.ready = now
	}
	pr.mu.Unlock()
	if isNew {
		pr.send(Event{Time: now, Kind: EvProbeNodeClaim, Detail: fmt.Sprintf("%s (NodePool %s, created %s)", nc.Name, pr.plan.NodePool, nc.CreationTimestamp.UTC().Format(time.RFC3339))})
	}
	if becameReady {
		pr.send(Event{Time: now, Kind: EvProbeNodeReady, Detail: fmt.Sprintf("%s: node %s Ready (%s %s)", nc.Name, orNone(cl.node), orNone(cl.instanceType), orNone(cl.zone))})
	}
}

// onPod follows the probe pod: Unschedulable, bound, Running.
func (pr *prober) onPod(p *corev1.Pod) {
	now := pr.now()
	pr.mu.Lock()
	unsched := discovery.Unschedulable(p) != nil && pr.unschedulable.IsZero()
	if unsched {
		pr.unschedulable = now
	}
	bound := p.Spec.NodeName != "" && pr.scheduled.IsZero()
	if bound {
		pr.scheduled, pr.node = now, p.Spec.NodeName
	}
	running := p.Status.Phase == corev1.PodRunning && pr.running.IsZero()
	if running {
		pr.running = now
	}
	pr.mu.Unlock()
	if unsched {
		pr.send(Event{Time: now, Kind: EvProbeUnschedulable, Detail: oneLine(discovery.Unschedulable(p).Message)})
	}
	if bound {
		pr.send(Event{Time: now, Kind: EvProbeScheduled, Detail: fmt.Sprintf("%s on node %s", p.Name, p.Spec.NodeName)})
	}
	if running {
		pr.send(Event{Time: now, Kind: EvProbeRunning, Detail: fmt.Sprintf("%s Running on %s", p.Name, p.Spec.NodeName)})
	}
}

// claimOn is the NodeClaim created after the probe whose node is node ("" for none). Callers hold mu.
func (pr *prober) claimOn(node string) string {
	for _, cl := range pr.claims {
		if cl.node == node {
			return cl.name
		}
	}
	return ""
}

// cleanup deletes the probe pod and its NodeClaim (whose node Karpenter then removes): the one it
// runs on, else the ones Karpenter nominated it for. It uses its own context: it runs on every exit.
func (pr *prober) cleanup(ctx context.Context) ([]string, []string) {
	if pr == nil {
		return nil, nil
	}
	var claims, candidates []string
	pr.mu.Lock()
	if pr.claim != "" {
		claims = append(claims, pr.claim)
	} else {
		for name := range pr.claims {
			candidates = append(candidates, name)
		}
	}
	pr.mu.Unlock()
	if len(candidates) > 0 {
		// A NodeClaim appeared after the probe but the probe is not bound yet: Karpenter records which
		// pods it is for in a Nominated event, written a moment after the NodeClaim. Wait for it.
		claims = append(claims, awaitNomination(ctx, pr.c, pr.plan.Namespace, pr.plan.Pod, candidates)...)
	}
	return cleanupProbe(ctx, persistent{pr.c}, pr.plan.Namespace, pr.plan.Pod, pr.plan.NodePool, claims)
}

// nominationWait bounds how long cleanup waits for Karpenter's Nominated event.
const nominationWait = 5 * time.Second

// pollInterval spaces the reads of cleanup's waits.
const pollInterval = 250 * time.Millisecond

// poll calls done every pollInterval until it reports true or limit has passed (done runs at least
// once, and once more after the limit); false when ctx ended first.
func poll(ctx context.Context, limit time.Duration, done func() bool) bool {
	deadline := time.Now().Add(limit)
	for !done() && !time.Now().After(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(pollInterval):
		}
	}
	return true
}

// awaitNomination polls the probe pod's Nominated events until one names a candidate NodeClaim, for at
// most nominationWait, and returns the candidates named.
func awaitNomination(ctx context.Context, c Client, ns, pod string, candidates []string) []string {
	var named []string
	if !poll(ctx, nominationWait, func() bool {
		named = nil
		evs, err := c.Events(ctx, ns, nominatedSelector(pod))
		if err == nil {
			for _, e := range evs.Items {
				for _, nc := range nominated(e.Message) {
					if slices.Contains(candidates, nc) {
						named = append(named, nc)
					}
				}
			}
		}
		return len(named) > 0
	}) {
		return nil
	}
	return named
}

func nominatedSelector(pod string) string {
	return fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
		fields.OneTermEqualSelector("involvedObject.name", pod), fields.OneTermEqualSelector("reason", "Nominated")).String()
}

// cleanupProbe deletes probe pod ns/pod and the NodeClaims claims, plus those Karpenter's Nominated
// events name for the pod ("Pod should schedule on: nodeclaim/NAME"). It returns what it deleted and
// the errors.
func cleanupProbe(ctx context.Context, c Client, ns, pod, pool string, claims []string) (deleted, errs []string) {
	if evs, err := c.Events(ctx, ns, nominatedSelector(pod)); err != nil {
		errs = append(errs, err.Error())
	} else {
		for _, e := range evs.Items {
			claims = append(claims, nominated(e.Message)...)
		}
	}
	if err := c.DeletePod(ctx, ns, pod, 0); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Sprintf("deleting probe pod %s/%s: %v", ns, pod, err))
	} else {
		deleted = append(deleted, "pod "+ns+"/"+pod)
	}
	slices.Sort(claims)
	claims = slices.Compact(claims)
	if len(claims) == 0 {
		return deleted, errs
	}
	providers := launched(ctx, c, pool, claims)
	for _, nc := range claims {
		if err := c.DeleteNodeClaim(ctx, nc); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		deleted = append(deleted, "nodeclaim "+nc)
	}
	if len(providers) > 0 {
		d, e := deleteOrphanNodes(ctx, c, pool, claims, providers)
		deleted, errs = append(deleted, d...), append(errs, e...)
	}
	return deleted, errs
}

// launchWait bounds how long cleanup waits for a NodeClaim that is being launched to have its instance.
const launchWait = 10 * time.Second

// launched returns the provider IDs of the instances behind the NodeClaims, waiting up to launchWait
// for those still being launched: deleting a NodeClaim whose launch is in flight leaves an instance
// (and a node) nothing knows about, and an unknown provider ID could not be cleaned up after it.
func launched(ctx context.Context, c Client, pool string, claims []string) map[string]bool {
	providers := map[string]bool{}
	poll(ctx, launchWait, func() bool {
		inPool, _, err := c.NodeClaims(ctx, karpv1.NodePoolLabelKey+"="+pool)
		pending := false
		for _, nc := range inPool {
			if !slices.Contains(claims, nc.Name) {
				continue
			}
			if nc.Status.ProviderID != "" {
				providers[nc.Status.ProviderID] = true
			} else if nc.DeletionTimestamp == nil {
				pending = true
			}
		}
		return err != nil || !pending
	})
	return providers
}

// orphanWait bounds how long cleanup waits for Karpenter to finish deleting the probe's NodeClaims.
const orphanWait = 20 * time.Second

// deleteOrphanNodes waits until Karpenter has finished deleting the NodeClaims (their finalizer
// terminates the instance and its node), then deletes any node of the NodePool still carrying one of
// their provider IDs: one that registered after its NodeClaim was gone, which nothing else removes soon.
func deleteOrphanNodes(ctx context.Context, c Client, pool string, claims []string, providers map[string]bool) (deleted, errs []string) {
	sel := karpv1.NodePoolLabelKey + "=" + pool
	if !poll(ctx, orphanWait, func() bool {
		left, _, err := c.NodeClaims(ctx, sel)
		return err != nil || !slices.ContainsFunc(left, func(nc karpv1.NodeClaim) bool { return slices.Contains(claims, nc.Name) })
	}) {
		return nil, nil
	}
	nodes, err := c.Nodes(ctx, sel)
	if err != nil {
		return nil, []string{err.Error()}
	}
	for _, n := range nodes {
		if !providers[n.Spec.ProviderID] || n.DeletionTimestamp != nil {
			continue
		}
		if err := c.DeleteNode(ctx, n.Name); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		deleted = append(deleted, "node "+n.Name+" (its NodeClaim was gone)")
	}
	return deleted, errs
}

// nominated reads the NodeClaim names of Karpenter's "Pod should schedule on: nodeclaim/A, node/B".
func nominated(msg string) []string {
	_, list, ok := strings.Cut(msg, "should schedule on:")
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(list, ",") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(part), "nodeclaim/"); ok && name != "" {
			out = append(out, name)
		}
	}
	return out
}

// restoreProbes deletes what crashed drills' probes left in ns (only drill id's when id is set): each
// probe pod with the NodeClaims it is tied to — the one it runs on, the ones labelled with its drill
// id, the ones Karpenter nominated it for — and labelled NodeClaims whose pod is gone.
func restoreProbes(ctx context.Context, c Client, ns, id string) (deleted, errs []string) {
	sel := ProbeLabel
	if id != "" {
		sel = ProbeLabel + "=" + id
	}
	pods, err := c.Pods(ctx, ns, sel)
	if err != nil {
		return nil, []string{err.Error()}
	}
	labelled, _, err := c.NodeClaims(ctx, sel)
	if err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err.Error())
	}
	for _, p := range pods.Items {
		var claims []string
		for _, nc := range labelled {
			if nc.Labels[ProbeLabel] == p.Labels[ProbeLabel] {
				claims = append(claims, nc.Name)
			}
		}
		if p.Spec.NodeName != "" {
			inPool, _, err := c.NodeClaims(ctx, karpv1.NodePoolLabelKey+"="+p.Spec.NodeSelector[karpv1.NodePoolLabelKey])
			if err != nil {
				errs = append(errs, err.Error())
			}
			for _, nc := range inPool {
				if nc.Status.NodeName == p.Spec.NodeName {
					claims = append(claims, nc.Name)
				}
			}
		}
		d, e := cleanupProbe(ctx, c, ns, p.Name, p.Spec.NodeSelector[karpv1.NodePoolLabelKey], claims)
		deleted, errs = append(deleted, d...), append(errs, e...)
	}
	for _, nc := range labelled {
		if !slices.ContainsFunc(pods.Items, func(p corev1.Pod) bool { return p.Labels[ProbeLabel] == nc.Labels[ProbeLabel] }) {
			if err := c.DeleteNodeClaim(ctx, nc.Name); err != nil {
				errs = append(errs, err.Error())
			} else {
				deleted = append(deleted, "nodeclaim "+nc.Name)
			}
		}
	}
	return deleted, errs
}
