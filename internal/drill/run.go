package drill

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

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
		LeaseDurationSeconds: p.Status.LeaseDuration.Seconds(), RetryPeriodSeconds: o.RetryPeriod.Seconds(), State: "not started"}
}

// Run performs the drill the preflight planned (it must be Ready) and returns its report. onEvent
// receives each timeline event as it happens. Whatever happens — PASS, FAIL, timeout, error or ctx
// cancelled by a signal — the nodes it cordoned are uncordoned and its lock is deleted before Run
// returns; r.Restored lists the nodes.
func Run(ctx context.Context, c Client, p *Preflight, onEvent func(Event)) (r *Report) {
	o, k := p.opts, p.k
	r = p.NewReport(Fail, "")
	var action time.Time
	emit := func(e Event) {
		if !action.IsZero() {
			e.SinceSeconds = e.Time.Sub(action).Seconds()
		}
		r.Timeline = append(r.Timeline, e)
		if onEvent != nil {
			onEvent(e)
		}
	}
	cleanup := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	}
	defer func() { r.Ended = o.Now() }()

	// The lock.
	lockObj, err := acquireLock(ctx, c, p)
	if err != nil {
		r.Reason = err.Error()
		return r
	}
	emit(Event{Time: o.Now(), Kind: EvLock, Detail: fmt.Sprintf("Lease %s/%s held by %s", k.Namespace, LockName, p.ID)})
	defer func() {
		cctx, cancel := cleanup()
		defer cancel()
		if err := c.DeleteLease(cctx, k.Namespace, LockName, lockObj.UID); err != nil {
			r.Explanation = append(r.Explanation, fmt.Sprintf("could not delete the drill lock %s/%s: %v (delete it by hand or run `drill restore`)", k.Namespace, LockName, err))
			return
		}
		emit(Event{Time: o.Now(), Kind: EvLockReleased, Detail: fmt.Sprintf("Lease %s/%s deleted", k.Namespace, LockName)})
	}()

	// Watches first, so nothing the action causes is missed.
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	ws, err := openWatches(ctx, wctx, c, k)
	if err != nil {
		r.Reason = err.Error()
		return r
	}
	defer ws.stop()
	pl, podW, leaseW, l0 := ws.pods, ws.podW, ws.leaseW, ws.lease

	duration, _ := lease.Duration(l0)
	r.LeaseDurationSeconds = duration.Seconds()
	oldHolder := ""
	if l0.Spec.HolderIdentity != nil {
		oldHolder = *l0.Spec.HolderIdentity
	}
	var tracker lease.Tracker
	tracker.Observe(l0, o.Now())

	// Zone outage: cordon, and restore whatever happens next.
	var cordoned []string
	zoneNodes := map[string]bool{}
	if o.Kind == ZoneOutage {
		nodes, err := c.Nodes(ctx, corev1.LabelTopologyZone+"="+o.Zone)
		if err != nil {
			r.Reason = err.Error()
			return r
		}
		for _, n := range nodes {
			if lease.ZoneOf(&n) == o.Zone {
				zoneNodes[n.Name] = true
			}
		}
		defer func() {
			cctx, cancel := cleanup()
			defer cancel()
			for _, n := range cordoned {
				if err := c.PatchNode(cctx, n, uncordonPatch); err != nil {
					r.Explanation = append(r.Explanation, fmt.Sprintf("could not uncordon %s: %v; run `kubectl karpctl drill restore`", n, err))
					r.Result = Fail
					continue
				}
				r.Restored = append(r.Restored, n)
				emit(Event{Time: o.Now(), Kind: EvUncordoned, Detail: n})
			}
		}()
		for _, n := range p.Plan.Cordon {
			if err := c.PatchNode(ctx, n, cordonPatch(p.ID)); err != nil {
				r.Reason = err.Error()
				return r
			}
			cordoned = append(cordoned, n)
			emit(Event{Time: o.Now(), Kind: EvCordoned, Detail: fmt.Sprintf("%s (%s=%s)", n, CordonAnnotation, p.ID)})
		}
	}

	// The action. Its time is taken before the first request: failover counts from then.
	tctx, cancelTimeout := context.WithTimeout(ctx, o.Timeout)
	defer cancelTimeout()
	action = o.Now()
	r.ActionTime = action
	targets := map[string]bool{}
	for _, t := range p.Plan.Targets {
		targets[t] = true
	}
	leaderHit := p.Plan.leaderHit()
	pending := append([]string(nil), p.Plan.Targets...)
	actOnce := func() error {
		var still []string
		for _, t := range pending {
			var err error
			if o.Mode == Hard {
				err = c.DeletePod(tctx, k.Namespace, t, 0)
			} else {
				err = c.Evict(tctx, k.Namespace, t)
			}
			switch {
			case err == nil && o.Mode == Hard:
				emit(Event{Time: o.Now(), Kind: EvDeleted, Detail: t + " deleted with grace period 0"})
			case err == nil:
				emit(Event{Time: o.Now(), Kind: EvEvicted, Detail: t})
			case apierrors.IsNotFound(err):
				emit(Event{Time: o.Now(), Kind: EvPodGone, Detail: t + " was already gone"})
			case apierrors.IsTooManyRequests(err) && o.Kind == ZoneOutage:
				// A PDB blocks the next eviction until a replacement is Ready: keep trying.
				if !containsKind(r.Timeline, EvEvictBlocked, t) {
					emit(Event{Time: o.Now(), Kind: EvEvictBlocked, Detail: t + ": " + oneLine(err.Error()) + " (retrying)"})
				}
				still = append(still, t)
			default:
				return fmt.Errorf("%s %s: %w", map[Mode]string{Evict: "evicting", Hard: "deleting"}[o.Mode], t, err)
			}
		}
		pending = still
		return nil
	}
	if err := actOnce(); err != nil {
		r.Reason, r.State = err.Error(), "action refused"
		if ctx.Err() != nil {
			emit(Event{Time: o.Now(), Kind: EvInterrupted, Detail: "drill interrupted during the action: restoring"})
			r.Reason, r.State = "interrupted during the action: "+err.Error(), "interrupted"
		}
		return r
	}

	pr := startProbeFor(wctx, c, p, o.Now) // nil without --probe
	defer r.finishProbe(cleanup, pr, p, emit)
	probeEvs, probeDone := pr.Events(), pr == nil

	pods := map[string]*corev1.Pod{}
	initial := map[string]bool{}
	unschedulableSince := map[string]time.Time{} // replacement pod -> first seen Unschedulable
	for i := range pl.Items {
		pods[pl.Items[i].Name] = &pl.Items[i]
		initial[pl.Items[i].Name] = true
	}
	seen := map[string]bool{} // event kind + pod, to emit milestones once
	once := func(kind, pod string) bool {
		if seen[kind+"/"+pod] {
			return false
		}
		seen[kind+"/"+pod] = true
		return true
	}
	var released, acquired, allReady bool
	var readyAt time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	retry := time.NewTicker(time.Second)
	defer retry.Stop()

	state := func() string {
		if len(r.Timeline) == 0 {
			return "not started"
		}
		for i := len(r.Timeline) - 1; i >= 0; i-- {
			switch r.Timeline[i].Kind {
			case EvLockReleased, EvUncordoned, EvLock, EvCordoned:
				continue
			}
			return r.Timeline[i].Kind
		}
		return "started"
	}
	// fail ends the drill as FAIL with reason — or as interrupted when Ctrl-C (ctx) ended it: a
	// cancelled context also closes the watches and fails the requests, and whichever the select picks
	// first must not be reported as the cause.
	fail := func(reason string) *Report {
		r.Result, r.State = Fail, state()
		if ctx.Err() != nil {
			emit(Event{Time: o.Now(), Kind: EvInterrupted, Detail: "drill interrupted: restoring"})
			r.Reason = fmt.Sprintf("interrupted after %s at state %q", o.Now().Sub(action).Round(100*time.Millisecond), r.State)
			return r
		}
		r.Reason = reason
		return r
	}
	readyReplacements := func() int {
		n := 0
		for name, pod := range pods {
			if !initial[name] && discovery.PodLive(pod) && discovery.PodReady(pod) && !zoneNodes[pod.Spec.NodeName] {
				n++
			}
		}
		return n
	}
	onLease := func(evs []lease.Event) {
		for _, e := range evs {
			switch e.Kind {
			case lease.EventReleased:
				if e.From == oldHolder {
					released = true
				}
				emit(Event{Time: e.Time, Kind: EvReleased, Detail: fmt.Sprintf("%s emptied holderIdentity", e.From)})
			case lease.EventExpired:
				emit(Event{Time: e.Time, Kind: EvExpired, Detail: fmt.Sprintf("%s's last renewal + %s passed without a release", e.From, duration)})
			case lease.EventAcquired:
				if e.To == oldHolder || acquired {
					continue
				}
				acquired = true
				r.NewLeader = e.To
				r.LeaderGapSeconds = e.GapSeconds
				emit(Event{Time: e.Time, Kind: EvAcquired, Detail: fmt.Sprintf("%s (acquireTime; %.3fs without a leader since the old holder's last renewal)", e.To, e.GapSeconds)})
				path := Expired
				if released {
					path = Released
				}
				if leaderHit {
					r.judgeFailover(path, e.Time.Sub(action), duration, o.RetryPeriod, o.Slack, o.Mode)
				}
			}
		}
	}
	onPod := func(ev watch.Event) {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return
		}
		now := o.Now()
		if ev.Type == watch.Deleted {
			delete(pods, pod.Name)
			if targets[pod.Name] && once(EvPodGone, pod.Name) {
				emit(Event{Time: now, Kind: EvPodGone, Detail: pod.Name + " deleted"})
			}
			return
		}
		pods[pod.Name] = pod
		if targets[pod.Name] && pod.DeletionTimestamp != nil && once(EvTerminating, pod.Name) {
			kind := EvTerminating
			if pod.Name != p.Plan.Leader {
				kind = "replica-terminating"
			}
			emit(Event{Time: now, Kind: kind, Detail: fmt.Sprintf("%s (grace period %ds)", pod.Name, grace(pod))})
		}
		if initial[pod.Name] || !discovery.PodLive(pod) {
			return
		}
		if once(EvReplacement, pod.Name) {
			emit(Event{Time: now, Kind: EvReplacement, Detail: pod.Name})
		}
		if pod.Spec.NodeName != "" && once(EvScheduled, pod.Name) {
			emit(Event{Time: now, Kind: EvScheduled, Detail: fmt.Sprintf("%s on %s", pod.Name, pod.Spec.NodeName)})
		}
		if msg := unschedulable(pod); msg != "" {
			r.Unschedulable = fmt.Sprintf("%s cannot schedule: %s", pod.Name, msg)
			if _, seen := unschedulableSince[pod.Name]; !seen {
				unschedulableSince[pod.Name] = now
			}
			if once(EvUnschedulable, pod.Name) {
				emit(Event{Time: now, Kind: EvUnschedulable, Detail: r.Unschedulable})
			}
		} else {
			delete(unschedulableSince, pod.Name)
		}
		if discovery.PodReady(pod) && pod.Status.Phase == corev1.PodRunning && once(EvReady, pod.Name) {
			emit(Event{Time: now, Kind: EvReady, Detail: fmt.Sprintf("%s Running and Ready on %s", pod.Name, pod.Spec.NodeName)})
			if r.ReplacementReadySeconds == 0 {
				r.ReplacementReadySeconds = now.Sub(action).Seconds()
			}
		}
	}
	done := func() bool {
		if !allReady {
			n := 0
			for _, pod := range pods {
				if discovery.PodLive(pod) && discovery.PodReady(pod) {
					n++
				}
			}
			if n >= p.Plan.Desired && readyReplacements() >= len(p.Plan.Targets) && len(pending) == 0 {
				allReady, readyAt = true, o.Now()
				emit(Event{Time: readyAt, Kind: EvAllReady, Detail: fmt.Sprintf("%d/%d replicas Ready", n, p.Plan.Desired)})
			}
		}
		return allReady && (acquired || !leaderHit) && probeDone
	}

	for !done() {
		select {
		case <-tctx.Done():
			reason := fmt.Sprintf("timeout after %s: state reached %q (leader acquired: %t, replicas ready: %t)", o.Timeout, state(), acquired || !leaderHit, allReady)
			if r.Unschedulable != "" {
				reason += "; " + r.Unschedulable
			}
			return fail(reason)
		case <-retry.C:
			if len(pending) > 0 {
				if err := actOnce(); err != nil {
					return fail(err.Error())
				}
			}
		case now := <-tick.C:
			onLease(tracker.Tick(now))
			if stuck, since := stuckReplacement(unschedulableSince); stuck != "" && (acquired || !leaderHit) && now.Sub(since) >= o.UnschedulableGrace {
				r.Result, r.State = Fail, state()
				r.Reason = fmt.Sprintf("%s (for %s; gave up before --timeout: the leader question is settled and waiting adds nothing)", r.Unschedulable, now.Sub(since).Round(time.Second))
				return r
			}
		case ev, ok := <-leaseW.ResultChan():
			if !ok {
				return fail("the lease watch ended")
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if l, ok := ev.Object.(*coordinationv1.Lease); ok {
					onLease(tracker.Observe(l, o.Now()))
				}
			case watch.Deleted:
				onLease(tracker.Observe(nil, o.Now()))
			case watch.Error:
				return fail(fmt.Sprintf("watching the lease: %v", apierrors.FromObject(ev.Object)))
			}
		case e, ok := <-probeEvs:
			if !ok {
				probeEvs, probeDone = nil, true
				continue
			}
			emit(e)
		case ev, ok := <-podW.ResultChan():
			if !ok {
				return fail("the pod watch ended")
			}
			if ev.Type == watch.Error {
				return fail(fmt.Sprintf("watching the pods: %v", apierrors.FromObject(ev.Object)))
			}
			onPod(ev)
		}
	}
	r.State = EvAllReady
	if !leaderHit {
		// Continuity: the leader was not disrupted and must have kept the lease.
		r.Path = Continued
		if acquired {
			r.Result = Fail
			r.Reason = fmt.Sprintf("the leader was not disrupted but the lease moved to %s", r.NewLeader)
		} else {
			r.Result = Pass
			r.Reason = fmt.Sprintf("leader %s kept the lease; %d replacement(s) Ready outside %s after %.1fs", p.Plan.Leader, len(p.Plan.Targets), orNone(o.Zone), readyAt.Sub(action).Seconds())
		}
		return r
	}
	if o.Kind == ZoneOutage && r.Result == Pass {
		r.Reason += fmt.Sprintf("; %d replacement(s) Ready outside %s after %.1fs", len(p.Plan.Targets), o.Zone, readyAt.Sub(action).Seconds())
	}
	return r
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

func grace(p *corev1.Pod) int64 {
	if p.DeletionGracePeriodSeconds != nil {
		return *p.DeletionGracePeriodSeconds
	}
	return 0
}

// stuckReplacement is the replacement that has been Unschedulable the longest, and since when.
func stuckReplacement(since map[string]time.Time) (string, time.Time) {
	pod, first := "", time.Time{}
	for p, t := range since {
		if pod == "" || t.Before(first) {
			pod, first = p, t
		}
	}
	return pod, first
}

func unschedulable(p *corev1.Pod) string {
	if c := discovery.Unschedulable(p); c != nil {
		return oneLine(c.Message)
	}
	return ""
}

func containsKind(evs []Event, kind, prefix string) bool {
	for _, e := range evs {
		if e.Kind == kind && strings.HasPrefix(e.Detail, prefix) {
			return true
		}
	}
	return false
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// RestoreResult is what `drill restore` undid.
type RestoreResult struct {
	Uncordoned  []string `json:"uncordoned"`
	LockDeleted string   `json:"lockDeleted,omitempty"`
	// ProbeDeleted are the probe pods and NodeClaims deleted.
	ProbeDeleted []string `json:"probeDeleted,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// Restore undoes what crashed drills left: every node labelled CordonLabel (only id's when id is
// set) is uncordoned and unmarked, every probe pod labelled ProbeLabel in ns is deleted with its
// NodeClaim, and the drill lock in ns is deleted when it belongs to id (any drill when id is empty).
// Nodes cordoned by someone else carry no label and are never touched.
func Restore(ctx context.Context, c Client, ns, id string) (RestoreResult, error) {
	var res RestoreResult
	sel := CordonLabel
	if id != "" {
		sel = CordonLabel + "=" + id
	}
	nodes, err := c.Nodes(ctx, sel)
	if err != nil {
		return res, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	for _, n := range nodes {
		if err := c.PatchNode(ctx, n.Name, uncordonPatch); err != nil {
			res.Errors = append(res.Errors, err.Error())
			continue
		}
		res.Uncordoned = append(res.Uncordoned, fmt.Sprintf("%s (drill %s)", n.Name, n.Labels[CordonLabel]))
	}
	if ns != "" {
		deleted, errs := restoreProbes(ctx, c, ns, id)
		res.ProbeDeleted, res.Errors = deleted, append(res.Errors, errs...)
		l, err := c.Lease(ctx, ns, LockName)
		if err != nil {
			res.Errors = append(res.Errors, err.Error())
		} else if l != nil {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			if id == "" || holder == id {
				if err := c.DeleteLease(ctx, ns, LockName, l.UID); err != nil {
					res.Errors = append(res.Errors, err.Error())
				} else {
					res.LockDeleted = fmt.Sprintf("%s/%s (drill %s)", ns, LockName, holder)
				}
			}
		}
	}
	if len(res.Errors) > 0 {
		return res, errors.New(strings.Join(res.Errors, "; "))
	}
	return res, nil
}
