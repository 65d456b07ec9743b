package drill

import (
	"context"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// cleanupTimeout bounds restore and lock release, which run on a fresh context so that Ctrl-C or a
// timeout still leaves the cluster as it was found.
const cleanupTimeout = 30 * time.Second

// NewReport is the report of a drill that has not run (refused, dry run).
func (p *Preflight) NewReport(result Result, reason string) *Report {
	o := p.opts
	return &Report{ID: p.ID, Kind: o.Kind, Mode: o.Mode, Zone: o.Zone, Cluster: o.Cluster, Context: o.Context,
		Namespace: p.k.Namespace, Lease: p.k.LeaseNamespace + "/" + p.k.LeaseName, Started: o.Now(), Ended: o.Now(),
		Result: result, Reason: reason, Gates: p.Gates, Plan: p.Plan, OldLeader: p.Plan.Leader,
		LeaseDurationSeconds: p.Status.LeaseDuration.Duration().Seconds(), RetryPeriodSeconds: o.RetryPeriod.Seconds(), State: "not started"}
}

// Run performs the drill the preflight planned (it must have no Refusal) and returns its report.
// onEvent receives each timeline event as it happens. Whatever happens — PASS, FAIL, timeout, error
// or ctx cancelled by a signal — the nodes it cordoned are uncordoned, and its probe and its lock
// deleted, before Run returns; r.Restored lists the nodes.
//
// The error is an API error that ended the drill early or kept it from putting something back; the
// report then says FAIL and why, as it does for a failed verdict, which is no error.
func Run(ctx context.Context, c Client, p *Preflight, onEvent func(Event)) (*Report, error) {
	ru := newRun(ctx, c, p, onEvent)
	ru.execute()
	ru.r.Ended = ru.o.Now()
	return ru.r, ru.err()
}

// run is one drill under way: what it changed (to put back), what it has seen of the lease and the
// pods, and the report it fills. Its methods are the drill's steps.
type run struct {
	ctx     context.Context // the caller's: cancelled by Ctrl-C
	c       Client
	p       *Preflight
	o       Options
	k       *discovery.Karpenter
	r       *Report
	onEvent func(Event)
	// apiErrs are the API errors that ended the drill or kept it from restoring.
	apiErrs []error

	lock      *coordinationv1.Lease
	zoneNodes map[string]bool // zone-outage: the zone's nodes, where a replacement does not count
	cordoned  []string
	uncertain []string // nodes whose cordon patch failed: the API server may have applied it

	// The action: its time, its context (ctx bounded by --timeout) and the targets it still has to
	// evict (a PodDisruptionBudget blocked them).
	action    time.Time
	acted     bool // an eviction (or deletion) went through; action is its time
	actCtx    context.Context
	targets   map[string]bool
	pending   []string
	leaderHit bool

	// The lease as watched. sil tells an API server that stopped answering from a leader that
	// stopped renewing, as `lease --watch` does: a quiet watch is checked with a short read of the
	// lease (leaseReads brings the answers; reading while one is in flight), and an expiry is only
	// reported on news from after it.
	sil *lease.Silence
	// silentBeforeAcquired is how long the API server was silent before a new leader was seen: no
	// follower could take the lease meanwhile.
	silentBeforeAcquired time.Duration
	leaseReads           chan leaseRead
	reading              bool
	tracker              lease.Tracker
	oldHolder            string
	duration             time.Duration
	released, acquired   bool

	// The pods as watched.
	pods               map[string]*corev1.Pod
	initial            map[string]bool      // the pods before the action
	unschedulableSince map[string]time.Time // replacement pod -> first seen Unschedulable
	seen               map[string]bool      // event kind + pod: each milestone is emitted once
	allReady           bool
	readyAt            time.Time

	probeEvs  <-chan Event // nil without --probe
	probeDone bool
}

func newRun(ctx context.Context, c Client, p *Preflight, onEvent func(Event)) *run {
	ru := &run{ctx: ctx, c: c, p: p, o: p.opts, k: p.k, r: p.NewReport(Fail, ""), onEvent: onEvent,
		zoneNodes: map[string]bool{}, targets: map[string]bool{}, pending: append([]string(nil), p.Plan.Targets...), leaderHit: p.Plan.leaderHit(),
		pods: map[string]*corev1.Pod{}, initial: map[string]bool{}, unschedulableSince: map[string]time.Time{}, seen: map[string]bool{}}
	for _, t := range p.Plan.Targets {
		ru.targets[t] = true
	}
	return ru
}

// execute takes the lock, opens the watches, cordons the zone (zone-outage), acts and waits for the
// verdict. Its defers put back what it changed, whatever ended it: the probe first, the lock last.
func (ru *run) execute() {
	if !ru.takeLock() {
		return
	}
	defer ru.releaseLock()
	// Watches first, so nothing the action causes is missed.
	wctx, stopWatches := context.WithCancel(ru.ctx)
	defer stopWatches()
	ws, err := openWatches(ru.ctx, wctx, ru.c, ru.k)
	if err != nil {
		ru.abort(err)
		return
	}
	defer ws.stop()
	ru.observeStart(ws)
	if ru.o.Kind == ZoneOutage {
		defer ru.uncordon()
		if !ru.cordonZone() {
			return
		}
	}
	actCtx, cancel := context.WithTimeout(ru.ctx, ru.o.Timeout)
	defer cancel()
	if !ru.startAction(actCtx) {
		return
	}
	pr := startProbeFor(wctx, ru.c, ru.p, ru.o.Now) // nil without --probe
	defer ru.finishProbe(pr)
	ru.probeEvs, ru.probeDone = pr.Events(), pr == nil
	if ru.wait(ws) {
		ru.conclude()
	}
}

// emit adds e to the timeline, timed from the action once there is one, and passes it on.
func (ru *run) emit(e Event) {
	if !ru.action.IsZero() {
		e.SinceSeconds = e.Time.Sub(ru.action).Seconds()
	}
	ru.r.Timeline = append(ru.r.Timeline, e)
	if ru.onEvent != nil {
		ru.onEvent(e)
	}
	crashPoint(e.Kind)
}

// abort ends the drill before its action: err is the reason.
func (ru *run) abort(err error) {
	ru.r.Reason = err.Error()
	ru.apiError(err)
}

// apiError records err, unless Ctrl-C (a cancelled ctx) caused it: then the drill was interrupted.
func (ru *run) apiError(err error) {
	if ru.ctx.Err() == nil {
		ru.apiErrs = append(ru.apiErrs, err)
	}
}

// restoreFailed records err from putting something back: it is an API error even after Ctrl-C,
// since the cluster was left changed.
func (ru *run) restoreFailed(err error) { ru.apiErrs = append(ru.apiErrs, err) }

// err is the first API error, with any others after it.
func (ru *run) err() error {
	if len(ru.apiErrs) == 0 {
		return nil
	}
	err := ru.apiErrs[0]
	for _, e := range ru.apiErrs[1:] {
		err = fmt.Errorf("%w; %v", err, e)
	}
	return err
}

// cleanupContext outlives Ctrl-C and --timeout, so that what the drill changed is put back.
func (ru *run) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ru.ctx), cleanupTimeout)
}

func (ru *run) takeLock() bool {
	lock, err := acquireLock(ru.ctx, ru.c, ru.p)
	if err != nil {
		ru.abort(err)
		return false
	}
	ru.lock = lock
	ru.emit(Event{Time: ru.o.Now(), Kind: EvLock, Detail: fmt.Sprintf("Lease %s/%s held by %s", ru.k.Namespace, LockName, ru.p.ID)})
	return true
}

func (ru *run) releaseLock() {
	ctx, cancel := ru.cleanupContext()
	defer cancel()
	ns := ru.k.Namespace
	if err := (persistent{ru.c}).DeleteLease(ctx, ns, LockName, ru.lock.UID); err != nil {
		ru.r.Explanation = append(ru.r.Explanation, fmt.Sprintf("could not delete the drill lock %s/%s: %v (delete it by hand or run `drill restore`)", ns, LockName, err))
		ru.restoreFailed(fmt.Errorf("deleting the drill lock %s/%s: %w", ns, LockName, err))
		return
	}
	ru.emit(Event{Time: ru.o.Now(), Kind: EvLockReleased, Detail: fmt.Sprintf("Lease %s/%s deleted", ns, LockName)})
}

// cordonZone notes the zone's nodes and cordons those the plan names, marked with the drill id.
func (ru *run) cordonZone() bool {
	nodes, err := ru.c.Nodes(ru.ctx, corev1.LabelTopologyZone+"="+ru.o.Zone)
	if err != nil {
		ru.abort(err)
		return false
	}
	for _, n := range nodes {
		if lease.ZoneOf(&n) == ru.o.Zone {
			ru.zoneNodes[n.Name] = true
		}
	}
	for _, n := range ru.p.Plan.Cordon {
		if err := (persistent{ru.c}).PatchNode(ru.ctx, n, cordonPatch(ru.p.ID)); err != nil {
			// The API server may have applied the patch and lost the answer: uncordon checks.
			ru.uncertain = append(ru.uncertain, n)
			ru.abort(err)
			return false
		}
		ru.cordoned = append(ru.cordoned, n)
		ru.emit(Event{Time: ru.o.Now(), Kind: EvCordoned, Detail: fmt.Sprintf("%s (%s=%s)", n, CordonAnnotation, ru.p.ID)})
	}
	return true
}

// uncordon puts back exactly the nodes cordonZone cordoned, and a node whose cordon failed if it
// carries this drill's mark all the same.
func (ru *run) uncordon() {
	ctx, cancel := ru.cleanupContext()
	defer cancel()
	c := persistent{ru.c}
	for _, n := range ru.uncertain {
		node, err := c.Node(ctx, n)
		switch {
		case err != nil:
			ru.r.Explanation = append(ru.r.Explanation, fmt.Sprintf("could not read %s to check its cordon: %v; run `kubectl karpctl drill restore`", n, err))
			ru.restoreFailed(err)
		case node != nil && node.Labels[CordonLabel] == ru.p.ID:
			ru.cordoned = append(ru.cordoned, n)
		}
	}
	for _, n := range ru.cordoned {
		if err := c.PatchNode(ctx, n, uncordonPatch); err != nil {
			ru.r.Explanation = append(ru.r.Explanation, fmt.Sprintf("could not uncordon %s: %v; run `kubectl karpctl drill restore`", n, err))
			ru.r.Result = Fail
			ru.restoreFailed(err)
			continue
		}
		ru.r.Restored = append(ru.r.Restored, n)
		ru.emit(Event{Time: ru.o.Now(), Kind: EvUncordoned, Detail: n})
	}
}

// startAction takes the action's time before the first request (failover counts from then) and
// evicts or deletes the targets; false when that failed, and the report says why.
func (ru *run) startAction(ctx context.Context) bool {
	ru.actCtx = ctx
	ru.action = ru.o.Now()
	ru.r.ActionTime = ru.action
	err := ru.act()
	if err == nil {
		return true
	}
	ru.r.Reason, ru.r.State = err.Error(), "action refused"
	if ru.ctx.Err() != nil {
		ru.emit(Event{Time: ru.o.Now(), Kind: EvInterrupted, Detail: "drill interrupted during the action: restoring"})
		ru.r.Reason, ru.r.State = "interrupted during the action: "+err.Error(), "interrupted"
		return false
	}
	if !apierrors.IsTooManyRequests(err) { // a PodDisruptionBudget refusing the eviction is a verdict
		ru.apiError(err)
	}
	return false
}

// act evicts (or, with --mode hard, deletes) the targets still pending. In a zone outage a
// PodDisruptionBudget may block an eviction until a replacement is Ready: those stay pending.
func (ru *run) act() error {
	var still []string
	for _, t := range ru.pending {
		var err error
		sent := &lastSent{}
		ctx := sent.trace(ru.actCtx)
		// A failure a retry can cure is retried (a lost answer included: evicting or deleting a pod
		// that is already terminating or gone answers as the first did, or NotFound). A 429 is not:
		// it is a PodDisruptionBudget refusing the eviction.
		err = persistIf(ctx, transientNotThrottled, func() error {
			if ru.o.Mode == Hard {
				return ru.c.DeletePod(ctx, ru.k.Namespace, t, 0)
			}
			return ru.c.Evict(ctx, ru.k.Namespace, t)
		})
		if err == nil {
			ru.actedAt(sent)
		}
		switch {
		case err == nil && ru.o.Mode == Hard:
			ru.emit(Event{Time: ru.o.Now(), Kind: EvDeleted, Detail: t + " deleted with grace period 0"})
		case err == nil:
			ru.emit(Event{Time: ru.o.Now(), Kind: EvEvicted, Detail: t})
		case apierrors.IsNotFound(err):
			ru.emit(Event{Time: ru.o.Now(), Kind: EvPodGone, Detail: t + " was already gone"})
		case apierrors.IsTooManyRequests(err) && ru.o.Kind == ZoneOutage:
			// A PDB blocks the next eviction until a replacement is Ready: keep trying.
			if ru.once(EvEvictBlocked, t) {
				ru.emit(Event{Time: ru.o.Now(), Kind: EvEvictBlocked, Detail: t + ": " + oneLine(err.Error()) + " (retrying)"})
			}
			still = append(still, t)
		default:
			return fmt.Errorf("%s %s: %w", map[Mode]string{Evict: "evicting", Hard: "deleting"}[ru.o.Mode], t, err)
		}
	}
	ru.pending = still
	return nil
}

func acquireLock(ctx context.Context, c Client, p *Preflight) (*coordinationv1.Lease, error) {
	k, o := p.k, p.opts
	now := metav1.NewMicroTime(o.Now())
	secs := int32(o.Timeout.Seconds())
	obj := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: LockName,
			Labels:      map[string]string{"app.kubernetes.io/managed-by": "karpctl"},
			Annotations: map[string]string{"karpctl.io/drill-kind": string(o.Kind)}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &p.ID, AcquireTime: &now, RenewTime: &now, LeaseDurationSeconds: &secs},
	}
	got, err := c.CreateLease(ctx, obj)
	if apierrors.IsAlreadyExists(err) && o.Force {
		// Preflight found it stale and the user forced: take it over, but only that exact object.
		old, gerr := c.Lease(ctx, k.Namespace, LockName)
		if gerr == nil && old != nil {
			if derr := c.DeleteLease(ctx, k.Namespace, LockName, old.UID); derr == nil {
				got, err = c.CreateLease(ctx, obj)
			}
		}
	}
	if err != nil && !apierrors.IsAlreadyExists(err) && transient(err) {
		// The API server may have created the lock and lost the answer: it is ours if it names us.
		if l, gerr := (persistent{c}).Lease(ctx, k.Namespace, LockName); gerr == nil && l != nil && ptr.Deref(l.Spec.HolderIdentity, "") == p.ID {
			return l, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("taking the drill lock %s/%s: %w", k.Namespace, LockName, err)
	}
	return got, nil
}

// drillWatches are the drill's watches of the Karpenter pods and the lease, with the objects they
// start from.
type drillWatches struct {
	pods         *corev1.PodList
	lease        *coordinationv1.Lease
	podW, leaseW watch.Interface
}

// openWatches lists the Karpenter pods and reads the lease, and watches both from there (on wctx).
func openWatches(ctx, wctx context.Context, c Client, k *discovery.Karpenter) (*drillWatches, error) {
	ws := &drillWatches{}
	var err error
	if ws.pods, err = c.Pods(ctx, k.Namespace, k.PodSelector.String()); err != nil {
		return nil, err
	}
	if ws.podW, err = retryWatch(wctx, ws.pods.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return c.WatchPods(ctx, k.Namespace, k.PodSelector.String(), rv)
	}); err != nil {
		return nil, fmt.Errorf("watching Karpenter pods: %w", err)
	}
	if ws.lease, err = c.Lease(ctx, k.LeaseNamespace, k.LeaseName); err != nil || ws.lease == nil {
		ws.podW.Stop()
		return nil, fmt.Errorf("reading lease %s/%s: %v", k.LeaseNamespace, k.LeaseName, err)
	}
	if ws.leaseW, err = retryWatch(wctx, ws.lease.ResourceVersion, func(ctx context.Context, rv string) (watch.Interface, error) {
		return c.WatchLease(ctx, k.LeaseNamespace, k.LeaseName, rv)
	}); err != nil {
		ws.podW.Stop()
		return nil, fmt.Errorf("watching lease %s/%s: %w", k.LeaseNamespace, k.LeaseName, err)
	}
	return ws, nil
}

func (ws *drillWatches) stop() {
	ws.podW.Stop()
	ws.leaseW.Stop()
}

func retryWatch(ctx context.Context, rv string, f func(context.Context, string) (watch.Interface, error)) (watch.Interface, error) {
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		return f(ctx, o.ResourceVersion)
	}}
	return watchtools.NewRetryWatcherWithContext(ctx, rv, lw)
}

var uncordonPatch = []byte(`{"metadata":{"labels":{"` + CordonLabel + `":null},"annotations":{"` + CordonAnnotation + `":null}},"spec":{"unschedulable":null}}`)

func cordonPatch(id string) []byte {
	return []byte(fmt.Sprintf(`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q}},"spec":{"unschedulable":true}}`, CordonLabel, id, CordonAnnotation, id))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
