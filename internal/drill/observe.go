package drill

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// How often the drill checks for an expired lease and a stuck replacement, and retries an eviction
// a PodDisruptionBudget blocked.
const (
	tickInterval  = 100 * time.Millisecond
	retryInterval = time.Second
)

// observeStart takes the lease and the pods the watches start from.
func (ru *run) observeStart(ws *drillWatches) {
	l0 := ws.lease
	ru.duration, _ = lease.Duration(l0)
	ru.r.LeaseDurationSeconds = ru.duration.Seconds()
	ru.oldHolder = ptr.Deref(l0.Spec.HolderIdentity, "")
	ru.tracker.Observe(l0, ru.o.Now())
	ru.sil = lease.NewSilence(lease.StaleAfter(ru.duration), ru.o.Now())
	ru.leaseReads = make(chan leaseRead, 1)
	for i := range ws.pods.Items {
		ru.pods[ws.pods.Items[i].Name] = &ws.pods.Items[i]
		ru.initial[ws.pods.Items[i].Name] = true
	}
}

// wait follows the lease, the pods and the probe until the drill is done (true), or until it
// failed, timed out or was interrupted (false: the report says why).
func (ru *run) wait(ws *drillWatches) bool {
	tick := time.NewTicker(tickInterval)
	defer tick.Stop()
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	for !ru.done() {
		var err error
		select {
		case <-ru.actCtx.Done():
			ru.fail(ru.timeoutReason())
			return false
		case <-retry.C:
			if len(ru.pending) > 0 {
				err = ru.act()
			}
		case <-tick.C:
			if !ru.onTick(ru.o.Now()) {
				return false
			}
		case ev, ok := <-ws.leaseW.ResultChan():
			err = ru.onLeaseWatch(ev, ok)
		case res := <-ru.leaseReads:
			ru.onLeaseRead(res)
		case e, ok := <-ru.probeEvs:
			if !ok {
				ru.probeEvs, ru.probeDone = nil, true
				continue
			}
			ru.emit(e)
		case ev, ok := <-ws.podW.ResultChan():
			err = ru.onPodWatch(ev, ok)
		}
		if err != nil {
			ru.fail(err.Error())
			ru.apiError(err)
			return false
		}
	}
	return true
}

// done: every replica Ready (the replacements outside a lost zone), a new leader unless the leader
// was spared, every target evicted, and the probe finished.
func (ru *run) done() bool {
	if !ru.allReady {
		n := 0
		for _, pod := range ru.pods {
			if discovery.PodLive(pod) && discovery.PodReady(pod) {
				n++
			}
		}
		if n >= ru.p.Plan.Desired && ru.readyReplacements() >= len(ru.p.Plan.Targets) && len(ru.pending) == 0 {
			ru.allReady, ru.readyAt = true, ru.o.Now()
			ru.emit(Event{Time: ru.readyAt, Kind: EvAllReady, Detail: fmt.Sprintf("%d/%d replicas Ready", n, ru.p.Plan.Desired)})
		}
	}
	return ru.allReady && ru.leaderSettled() && ru.probeDone
}

// leaderSettled: a new leader holds the lease, or the leader was not disrupted.
func (ru *run) leaderSettled() bool { return ru.acquired || !ru.leaderHit }

func (ru *run) readyReplacements() int {
	n := 0
	for name, pod := range ru.pods {
		if !ru.initial[name] && discovery.PodLive(pod) && discovery.PodReady(pod) && !ru.zoneNodes[pod.Spec.NodeName] {
			n++
		}
	}
	return n
}

// onTick notices an expired lease, and gives up (false) on a replacement that has stayed
// Unschedulable for --unschedulable-grace once the leader question is settled.
func (ru *run) onTick(now time.Time) bool {
	ru.checkSilence(now)
	stuck, since := stuckReplacement(ru.unschedulableSince)
	if stuck == "" || !ru.leaderSettled() || now.Sub(since) < ru.o.UnschedulableGrace {
		return true
	}
	ru.r.Result, ru.r.State = Fail, ru.state()
	ru.r.Reason = fmt.Sprintf("%s (for %s; gave up before --timeout: the leader question is settled and waiting adds nothing)", ru.r.Unschedulable, now.Sub(since).Round(time.Second))
	return false
}

func (ru *run) onLeaseWatch(ev watch.Event, ok bool) error {
	if !ok {
		return errors.New("the lease watch ended")
	}
	ru.heard(ru.o.Now())
	switch ev.Type {
	case watch.Added, watch.Modified:
		if l, ok := ev.Object.(*coordinationv1.Lease); ok {
			ru.onLease(ru.tracker.Observe(l, ru.o.Now()))
		}
	case watch.Deleted:
		ru.onLease(ru.tracker.Observe(nil, ru.o.Now()))
	case watch.Error:
		return fmt.Errorf("watching the lease: %w", apierrors.FromObject(ev.Object))
	}
	return nil
}

// onLease puts the lease's releases, expiries and new holder on the timeline; the first new holder
// is the failover, judged when the leader was disrupted.
func (ru *run) onLease(evs []lease.Event) {
	for _, e := range evs {
		switch e.Kind {
		case lease.EventReleased:
			if e.From == ru.oldHolder {
				ru.released = true
			}
			ru.emit(Event{Time: e.Time, Kind: EvReleased, Detail: fmt.Sprintf("%s emptied holderIdentity", e.From)})
		case lease.EventExpired:
			ru.emit(Event{Time: e.Time, Kind: EvExpired, Detail: fmt.Sprintf("%s's last renewal + %s passed without a release", e.From, ru.duration)})
		case lease.EventAcquired:
			if e.To == ru.oldHolder || ru.acquired {
				continue
			}
			ru.acquired = true
			ru.r.NewLeader = e.To
			ru.r.LeaderGapSeconds = e.Gap.Duration().Seconds()
			ru.emit(Event{Time: e.Time, Kind: EvAcquired, Detail: fmt.Sprintf("%s (acquireTime; %.3fs without a leader since the old holder's last renewal)", e.To, e.Gap.Duration().Seconds())})
			path := Expired
			if ru.released {
				path = Released
			}
			if ru.leaderHit {
				ru.r.judgeFailover(path, e.Time.Sub(ru.action), ru.duration, ru.o.RetryPeriod, ru.o.Slack, ru.o.Mode)
			}
		}
	}
}

func (ru *run) onPodWatch(ev watch.Event, ok bool) error {
	if !ok {
		return errors.New("the pod watch ended")
	}
	if ev.Type == watch.Error {
		return fmt.Errorf("watching the pods: %w", apierrors.FromObject(ev.Object))
	}
	if pod, ok := ev.Object.(*corev1.Pod); ok {
		ru.onPod(ev.Type, pod)
	}
	return nil
}

// onPod follows the targets going and their replacements coming: created, scheduled (or not), Ready.
func (ru *run) onPod(typ watch.EventType, pod *corev1.Pod) {
	now := ru.o.Now()
	if typ == watch.Deleted {
		delete(ru.pods, pod.Name)
		if ru.targets[pod.Name] && ru.once(EvPodGone, pod.Name) {
			ru.emit(Event{Time: now, Kind: EvPodGone, Detail: pod.Name + " deleted"})
		}
		return
	}
	ru.pods[pod.Name] = pod
	if ru.targets[pod.Name] && pod.DeletionTimestamp != nil && ru.once(EvTerminating, pod.Name) {
		kind := EvTerminating
		if pod.Name != ru.p.Plan.Leader {
			kind = "replica-terminating"
		}
		ru.emit(Event{Time: now, Kind: kind, Detail: fmt.Sprintf("%s (grace period %ds)", pod.Name, grace(pod))})
	}
	if ru.initial[pod.Name] || !discovery.PodLive(pod) {
		return
	}
	if ru.once(EvReplacement, pod.Name) {
		ru.emit(Event{Time: now, Kind: EvReplacement, Detail: pod.Name})
	}
	if pod.Spec.NodeName != "" && ru.once(EvScheduled, pod.Name) {
		ru.emit(Event{Time: now, Kind: EvScheduled, Detail: fmt.Sprintf("%s on %s", pod.Name, pod.Spec.NodeName)})
	}
	ru.onUnschedulable(pod, now)
	if discovery.PodReady(pod) && pod.Status.Phase == corev1.PodRunning && ru.once(EvReady, pod.Name) {
		ru.emit(Event{Time: now, Kind: EvReady, Detail: fmt.Sprintf("%s Running and Ready on %s", pod.Name, pod.Spec.NodeName)})
		if ru.r.ReplacementReadySeconds == 0 {
			ru.r.ReplacementReadySeconds = now.Sub(ru.action).Seconds()
		}
	}
}

// onUnschedulable notes since when a replacement has been Unschedulable (onTick gives up on it).
func (ru *run) onUnschedulable(pod *corev1.Pod, now time.Time) {
	msg := unschedulable(pod)
	if msg == "" {
		delete(ru.unschedulableSince, pod.Name)
		return
	}
	ru.r.Unschedulable = fmt.Sprintf("%s cannot schedule: %s", pod.Name, msg)
	if _, seen := ru.unschedulableSince[pod.Name]; !seen {
		ru.unschedulableSince[pod.Name] = now
	}
	if ru.once(EvUnschedulable, pod.Name) {
		ru.emit(Event{Time: now, Kind: EvUnschedulable, Detail: ru.r.Unschedulable})
	}
}

// once is true the first time it is asked about kind for pod.
func (ru *run) once(kind, pod string) bool {
	if ru.seen[kind+"/"+pod] {
		return false
	}
	ru.seen[kind+"/"+pod] = true
	return true
}

// state is the furthest milestone reached: the last event other than the lock's and the cordons'.
func (ru *run) state() string {
	if len(ru.r.Timeline) == 0 {
		return "not started"
	}
	for i := len(ru.r.Timeline) - 1; i >= 0; i-- {
		switch ru.r.Timeline[i].Kind {
		case EvLockReleased, EvUncordoned, EvLock, EvCordoned:
			continue
		}
		return ru.r.Timeline[i].Kind
	}
	return "started"
}

// fail ends the drill as FAIL with reason — or as interrupted when Ctrl-C (ctx) ended it: a
// cancelled context also closes the watches and fails the requests, and whichever the select picks
// first must not be reported as the cause.
func (ru *run) fail(reason string) {
	ru.r.Result, ru.r.State = Fail, ru.state()
	if ru.ctx.Err() != nil {
		ru.emit(Event{Time: ru.o.Now(), Kind: EvInterrupted, Detail: "drill interrupted: restoring"})
		ru.r.Reason = fmt.Sprintf("interrupted after %s at state %q", ru.o.Now().Sub(ru.action).Round(100*time.Millisecond), ru.r.State)
		return
	}
	ru.r.Reason = reason
}

func (ru *run) timeoutReason() string {
	reason := fmt.Sprintf("timeout after %s: state reached %q (leader acquired: %t, replicas ready: %t)", ru.o.Timeout, ru.state(), ru.leaderSettled(), ru.allReady)
	if ru.r.Unschedulable != "" {
		reason += "; " + ru.r.Unschedulable
	}
	return reason
}

// conclude gives the verdict of a drill that reached its end: the failover was judged when the new
// leader acquired; a spared leader must have kept the lease.
func (ru *run) conclude() {
	r, o, plan := ru.r, ru.o, ru.p.Plan
	r.State = EvAllReady
	ready := ru.readyAt.Sub(ru.action).Seconds()
	switch {
	case !ru.leaderHit && ru.acquired:
		r.Path, r.Result = Continued, Fail
		r.Reason = fmt.Sprintf("the leader was not disrupted but the lease moved to %s", r.NewLeader)
	case !ru.leaderHit:
		r.Path, r.Result = Continued, Pass
		r.Reason = fmt.Sprintf("leader %s kept the lease; %d replacement(s) Ready outside %s after %.1fs", plan.Leader, len(plan.Targets), orNone(o.Zone), ready)
	case o.Kind == ZoneOutage && r.Result == Pass:
		r.Reason += fmt.Sprintf("; %d replacement(s) Ready outside %s after %.1fs", len(plan.Targets), o.Zone, ready)
	}
	ru.judgeSilence()
}

// judgeSilence says in the report how much of the failover the API server's silence took: while the
// API server did not answer, no follower could take the lease, so that time is the API server's, not
// Karpenter's. A FAIL that the silence explains says so in its reason.
func (ru *run) judgeSilence() {
	r, s := ru.r, ru.silentBeforeAcquired
	if s <= 0 || !ru.leaderHit {
		return
	}
	r.Explanation = append(r.Explanation, fmt.Sprintf("The API server did not answer for %s before the new leader took the lease: "+
		"no follower could take it meanwhile, so that part of the failover is the API server's outage, not Karpenter's election.", lease.Round(s)))
	if without := r.FailoverSeconds - s.Seconds(); r.Result == Fail && r.BoundSeconds > 0 && r.FailoverSeconds > r.BoundSeconds && without <= r.BoundSeconds {
		r.Reason += fmt.Sprintf("; the API server was silent for %s of it: without that %.3fs ≤ %.3fs", lease.Round(s), without, r.BoundSeconds)
	}
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

// leaseRead is the answer of a read of the lease checking a quiet watch.
type leaseRead struct {
	l   *coordinationv1.Lease
	err error
}

// checkSilence reports a silence of the API server, reads the lease when the watch has been quiet
// or an expiry falls due without news from after it, and reports the expiry only on such news.
func (ru *run) checkSilence(now time.Time) {
	was := ru.sil.Silent()
	if quiet, ok := ru.sil.Check(now); ok {
		ru.r.APISilenceSeconds = max(ru.r.APISilenceSeconds, quiet.Seconds())
		if was {
			return // reported when it began; api-resumed says how long it lasted
		}
		ru.emit(Event{Time: now, Kind: EvAPISilent, Detail: fmt.Sprintf("the API server has not answered for %s (the lease watch is quiet and a read of the lease failed): whether %s still renews the lease is unknown, not expired",
			lease.Round(quiet), ru.oldHolder)})
	}
	at, due := ru.tracker.ExpiryDue(now)
	if due && !ru.sil.LastHeard().After(at) && !ru.sil.LastProbe().After(at) || ru.sil.NeedProbe(now) {
		ru.readLease(now)
	}
	ru.onLease(ru.tracker.TickHeard(now, ru.sil.LastHeard()))
}

// readLease reads the lease in the background, within Silence.ProbeTimeout, unless a read is in flight.
func (ru *run) readLease(now time.Time) {
	if ru.reading {
		return
	}
	ru.reading = true
	ru.sil.ProbeStarted(now)
	go func() {
		ctx, cancel := context.WithTimeout(ru.ctx, ru.sil.ProbeTimeout())
		defer cancel()
		l, err := ru.c.Lease(ctx, ru.k.LeaseNamespace, ru.k.LeaseName)
		ru.leaseReads <- leaseRead{l: l, err: err} // buffered: never blocks, whoever still listens
	}()
}

// onLeaseRead takes a read's answer: news from the API server, and the lease as it is now.
func (ru *run) onLeaseRead(res leaseRead) {
	ru.reading = false
	if res.err != nil {
		ru.sil.ProbeFailed()
		return
	}
	now := ru.o.Now()
	ru.heard(now)
	ru.onLease(ru.tracker.Observe(res.l, now))
}

// heard records news from the API server at now, and the end of a silence.
func (ru *run) heard(now time.Time) {
	if resumed, was := ru.sil.Heard(now); resumed {
		ru.r.APISilenceSeconds = max(ru.r.APISilenceSeconds, was.Seconds())
		if !ru.acquired {
			ru.silentBeforeAcquired += was
		}
		ru.emit(Event{Time: now, Kind: EvAPIResumed, Detail: fmt.Sprintf("the API server answers again after %s without news", lease.Round(was))})
	}
}
