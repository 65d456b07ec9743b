package drill

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// drillOf plans o's drill of the scenario over a fake client, on a clock standing at t0 until the
// test moves it.
func drillOf(t *testing.T, s scenario, o Options) (*fakeClient, *Preflight, *clock) {
	t.Helper()
	c := &clock{now: t0}
	o.Now = c.Now
	f, p := check(t, s, o)
	if g := p.Refusal(); g != nil {
		t.Fatalf("refused by %s: %s", g.Name, g.Message)
	}
	return f, p, c
}

func kindsOf(r *Report) []string {
	var out []string
	for _, e := range r.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func requireKinds(t *testing.T, r *Report, want ...string) {
	t.Helper()
	have := kindsOf(r)
	for _, w := range want {
		if !slices.Contains(have, w) {
			t.Errorf("timeline lacks %s: %v", w, have)
		}
	}
}

// lockReleased: the drill took its lock first and deleted it last.
func lockReleased(t *testing.T, f *fakeClient, r *Report) {
	t.Helper()
	k := kindsOf(r)
	if f.hasLease(LockName) || len(k) < 2 || k[0] != EvLock || k[len(k)-1] != EvLockReleased {
		t.Errorf("the lock: still there %t, timeline %v", f.hasLease(LockName), k)
	}
}

// replaced answers the eviction (or deletion) of the leader as a replica that releases on shutdown
// does: the pod terminates, the lease is released, k-b acquires it after acquireAfter, and a
// replacement k-c turns Ready on n-c.
func replaced(f *fakeClient, release bool, acquireAfter time.Duration) func(string) {
	return func(pod string) {
		old := f.pod(pod)
		old.DeletionTimestamp = &metav1.Time{Time: t0}
		f.podEvent(watch.Modified, old)
		if release {
			f.leaseEvent(electionLease("", t0.Add(100*time.Millisecond), 15))
		}
		if pod == "k-a" {
			f.leaseEvent(electionLease("k-b_2", t0.Add(acquireAfter), 60))
		}
		f.podEvent(watch.Deleted, old)
		replacement := karpPod("k-c", "n-c")
		f.podEvent(watch.Added, &replacement)
	}
}

func TestRunReleased(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = replaced(f, true, 500*time.Millisecond)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || r.Path != Released || r.FailoverSeconds != 0.5 || r.NewLeader != "k-b_2" || r.OldLeader != "k-a" || r.State != EvAllReady {
		t.Fatalf("err %v, report %s %s: %s (failover %.3fs, new leader %s, state %s)", err, r.Result, r.Path, r.Reason, r.FailoverSeconds, r.NewLeader, r.State)
	}
	requireKinds(t, r, EvEvicted, EvTerminating, EvReleased, EvAcquired, EvPodGone, EvReplacement, EvScheduled, EvReady, EvAllReady)
	lockReleased(t, f, r)
	if !r.ActionTime.Equal(t0) || r.Ended.IsZero() {
		t.Errorf("action %s, ended %s", r.ActionTime, r.Ended)
	}
}

// --mode hard: a crash cannot release, the lease expires, the explanation says so.
func TestRunHardExpires(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill, Mode: Hard})
	f.onAction = replaced(f, false, 16*time.Second)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || r.Path != Expired || r.FailoverSeconds != 16 || r.BoundSeconds != 20 {
		t.Fatalf("err %v, report %s %s: %s", err, r.Result, r.Path, r.Reason)
	}
	if !slices.Equal(f.called("DeletePod"), []string{"DeletePod k-a 0"}) || len(r.Explanation) == 0 || !strings.Contains(r.Explanation[0], "grace period 0") {
		t.Fatalf("calls %v, explanation %q", f.called("DeletePod"), r.Explanation)
	}
	requireKinds(t, r, EvDeleted, EvExpired, EvAcquired, EvAllReady)
}

// A failover slower than its bound is a FAIL verdict, not an error.
func TestRunSlowFailoverFails(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = replaced(f, true, 5*time.Second)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Fail || !strings.HasPrefix(r.Reason, "failover 5.000s > 3.000s") {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
}

func TestRunTimesOut(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill, Timeout: 50 * time.Millisecond})
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Fail || !strings.HasPrefix(r.Reason, `timeout after 50ms: state reached "eviction-accepted" (leader acquired: false, replicas ready: false)`) {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
	lockReleased(t, f, r)
}

// A zone outage where the leader does not run: the leader must keep the lease, the zone's node is
// cordoned for the drill and uncordoned after it.
func TestRunZoneOutageSparesTheLeader(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.onAction = replaced(f, false, 0)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || r.Path != Continued || !strings.HasPrefix(r.Reason, "leader k-a kept the lease; 1 replacement(s) Ready outside zone-b") {
		t.Fatalf("err %v, report %s %s: %s", err, r.Result, r.Path, r.Reason)
	}
	if want := []string{"PatchNode cordon n-b", "Evict k-b", "PatchNode uncordon n-b"}; !slices.Equal(f.called("PatchNode", "Evict"), want) || !slices.Equal(r.Restored, []string{"n-b"}) {
		t.Fatalf("calls %v, restored %v", f.called("PatchNode", "Evict"), r.Restored)
	}
	requireKinds(t, r, EvCordoned, EvEvicted, EvReady, EvUncordoned)
	lockReleased(t, f, r)
}

// The lease moves while the leader was spared: FAIL. The replacement turns Ready only once the drill
// has seen the move, or the drill could end before it.
func TestRunZoneOutageLeaseMovesFails(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.onAction = func(string) { f.leaseEvent(electionLease("k-c_3", t0.Add(time.Second), 15)) }
	r, err := Run(context.Background(), f, p, func(e Event) {
		if e.Kind == EvAcquired {
			replacement := karpPod("k-c", "n-c")
			f.podEvent(watch.Added, &replacement)
		}
	})
	if err != nil || r.Result != Fail || r.Path != Continued || r.Reason != "the leader was not disrupted but the lease moved to k-c_3" {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
}

// A PodDisruptionBudget blocking a zone's eviction (429) is retried until it goes through.
func TestRunRetriesABlockedEviction(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.inject("Evict k-b", apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0))
	f.onAction = replaced(f, false, 0)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || !slices.Equal(f.called("Evict"), []string{"Evict k-b", "Evict k-b"}) {
		t.Fatalf("err %v, report %s: %s; calls %v", err, r.Result, r.Reason, f.called("Evict"))
	}
	requireKinds(t, r, EvEvictBlocked, EvEvicted)
}

// A replacement that cannot schedule ends the drill once the leader has failed over and the grace
// has passed (by the drill's clock), before --timeout.
func TestRunGivesUpOnAnUnschedulableReplacement(t *testing.T) {
	f, p, c := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-a", UnschedulableGrace: 30 * time.Second})
	f.onAction = func(string) {
		f.leaseEvent(electionLease("", t0.Add(100*time.Millisecond), 15))
		f.leaseEvent(electionLease("k-b_2", t0.Add(500*time.Millisecond), 60))
		stuck := unschedulablePod("k-c")
		f.podEvent(watch.Added, &stuck)
	}
	r, err := Run(context.Background(), f, p, func(e Event) {
		if e.Kind == EvUnschedulable {
			c.Step(31 * time.Second)
		}
	})
	if err != nil || r.Result != Fail || !strings.Contains(r.Reason, "k-c cannot schedule: 0/3 nodes are available") || !strings.Contains(r.Reason, "(for 31s; gave up before --timeout") {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
	if !slices.Equal(r.Restored, []string{"n-a"}) {
		t.Fatalf("restored %v", r.Restored)
	}
}

// An API error during the action ends the drill with an error (exit 1), its report FAIL, the lock
// deleted.
func TestRunAPIErrorDuringTheAction(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.inject("Evict k-a", apierrors.NewForbidden(schema.GroupResource{Resource: "pods/eviction"}, "k-a", errAPI))
	r, err := Run(context.Background(), f, p, nil)
	if !apierrors.IsForbidden(err) || r.Result != Fail || r.State != "action refused" || !strings.HasPrefix(r.Reason, "evicting k-a: pods/eviction \"k-a\" is forbidden") {
		t.Fatalf("err %v, report %s (%s): %s", err, r.Result, r.State, r.Reason)
	}
	lockReleased(t, f, r)
}

// An eviction that failed in a way a retry can cure is retried, and the drill goes on to its verdict.
func TestRunEvictionRetried(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = replaced(f, true, 500*time.Millisecond)
	f.inject("Evict k-a", apierrors.NewInternalError(errAPI), syscall.ECONNRESET)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || len(f.called("Evict k-a")) != 3 {
		t.Fatalf("err %v, report %s: %s, evictions %v", err, r.Result, r.Reason, f.called("Evict k-a"))
	}
	lockReleased(t, f, r)
}

// The eviction refused by a PodDisruptionBudget (429) is the cluster's verdict, not an API error.
func TestRunEvictionRefusedIsAVerdict(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.inject("Evict k-a", apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0))
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Fail || r.State != "action refused" {
		t.Fatalf("err %v, report %s (%s): %s", err, r.Result, r.State, r.Reason)
	}
}

// An API error while cordoning the zone: what was cordoned is uncordoned, nothing is evicted.
func TestRunAPIErrorWhileCordoning(t *testing.T) {
	s := newScenario()
	s.nodes = append(s.nodes, node("n-b2", "zone-b"))
	f, p, _ := drillOf(t, s, Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.inject("PatchNode cordon n-b2", apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n-b2", errAPI))
	r, err := Run(context.Background(), f, p, nil)
	if !apierrors.IsForbidden(err) || r.Result != Fail || !slices.Equal(r.Restored, []string{"n-b"}) {
		t.Fatalf("err %v, report %s: %s, restored %v", err, r.Result, r.Reason, r.Restored)
	}
	if want := []string{"PatchNode cordon n-b", "PatchNode cordon n-b2", "PatchNode uncordon n-b"}; !slices.Equal(f.called("PatchNode", "Evict"), want) {
		t.Fatalf("calls %v, want %v", f.called("PatchNode", "Evict"), want)
	}
	lockReleased(t, f, r)
}

// The pod watch failing for good (410 Gone: the retry watcher gives up) is an API error.
func TestRunWatchErrorDuringTheDrill(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = func(string) {
		f.current(&f.podW).Error(&apierrors.NewResourceExpired("too old resource version: 1 (42)").ErrStatus)
	}
	r, err := Run(context.Background(), f, p, nil)
	if err == nil || r.Result != Fail || r.Reason != "watching the pods: too old resource version: 1 (42)" {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
	lockReleased(t, f, r)
}

// Failing to uncordon leaves the cluster changed: FAIL, and an API error even after a good failover.
func TestRunUncordonFailure(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.onAction = replaced(f, false, 0)
	f.inject("PatchNode uncordon n-b", apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n-b", errAPI))
	r, err := Run(context.Background(), f, p, nil)
	if !apierrors.IsForbidden(err) || r.Result != Fail || len(r.Restored) != 0 || !strings.Contains(strings.Join(r.Explanation, " "), "could not uncordon n-b") {
		t.Fatalf("err %v, report %s: %s, explanation %q", err, r.Result, r.Reason, r.Explanation)
	}
}

// A failure a retry can cure (500, a reset connection, a lost answer) does not keep the drill from
// putting the cluster back: the uncordon and the lock's deletion are retried.
func TestRunRestoreRetriesTransientFailures(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	f.onAction = replaced(f, false, 0)
	f.inject("PatchNode uncordon n-b", apierrors.NewInternalError(errAPI), io.ErrUnexpectedEOF)
	f.inject("DeleteLease "+LockName, syscall.ECONNRESET)
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass || !slices.Equal(r.Restored, []string{"n-b"}) {
		t.Fatalf("err %v, report %s: %s, restored %v", err, r.Result, r.Reason, r.Restored)
	}
	if got := f.called("PatchNode uncordon n-b"); len(got) != 3 {
		t.Fatalf("uncordon calls %v, want 3 (two failures, then success)", got)
	}
	lockReleased(t, f, r)
}

// A cordon whose answer was lost (every attempt of it) may have been applied: the drill reads the
// node back and uncordons it when it carries the drill's mark.
func TestRunUncertainCordonIsUndone(t *testing.T) {
	quickRetries(t)
	f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-b"})
	for range persistAttempts {
		f.inject("PatchNode cordon n-b", lostAnswer{})
	}
	r, err := Run(context.Background(), f, p, nil)
	if err == nil || r.Result != Fail || !slices.Equal(r.Restored, []string{"n-b"}) {
		t.Fatalf("err %v, report %s: %s, restored %v", err, r.Result, r.Reason, r.Restored)
	}
	if n := f.node("n-b"); n.Spec.Unschedulable || n.Labels[CordonLabel] != "" {
		t.Fatalf("n-b left cordoned: %+v", n)
	}
	lockReleased(t, f, r)
}

// A lock left behind is an API error; the verdict stands.
func TestRunLockLeftBehind(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = replaced(f, true, 500*time.Millisecond)
	f.inject("DeleteLease "+LockName, apierrors.NewForbidden(schema.GroupResource{Resource: "leases"}, LockName, errAPI))
	r, err := Run(context.Background(), f, p, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "deleting the drill lock karpenter/karpctl-drill: ") || r.Result != Pass {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
}

// The lock's creation answered with a broken connection after the API server created it: the lock
// is the drill's (it names the drill), so the drill goes on and deletes it at the end.
func TestRunLockCreatedButAnswerLost(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.onAction = replaced(f, true, 500*time.Millisecond)
	f.inject("CreateLease "+LockName, lostAnswer{})
	r, err := Run(context.Background(), f, p, nil)
	if err != nil || r.Result != Pass {
		t.Fatalf("err %v, report %s: %s", err, r.Result, r.Reason)
	}
	lockReleased(t, f, r)
}

// interrupting is the fake whose eviction is Ctrl-C: it cancels the drill's context, and fails the
// eviction as the cancelled request would when failAction is set.
type interrupting struct {
	*fakeClient
	cancel     context.CancelFunc
	failAction bool
}

func (c interrupting) Evict(ctx context.Context, ns, pod string) error {
	c.cancel()
	if c.failAction {
		return ctx.Err()
	}
	return c.fakeClient.Evict(ctx, ns, pod)
}

// Ctrl-C after the action closes the watches and cancels the timeout as well; whichever the loop sees
// first, the report says "interrupted", never "the pod watch ended" or a timeout, and it is no API
// error. The nodes and the lock are restored.
func TestRunInterruptedAfterTheAction(t *testing.T) {
	for i := 0; i < 10; i++ { // the select's choice is random: give every wrong pick a chance
		f, p, _ := drillOf(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-a"})
		ctx, cancel := context.WithCancel(context.Background())
		r, err := Run(ctx, interrupting{fakeClient: f, cancel: cancel}, p, nil)
		if err != nil || r.Result != Fail || !strings.HasPrefix(r.Reason, "interrupted after") || !slices.Contains(kindsOf(r), EvInterrupted) {
			t.Fatalf("run %d: err %v, result %s, reason %q, timeline %v", i, err, r.Result, r.Reason, kindsOf(r))
		}
		if !slices.Equal(r.Restored, []string{"n-a"}) {
			t.Fatalf("run %d: restored %v", i, r.Restored)
		}
		lockReleased(t, f, r)
	}
}

func TestRunInterruptedDuringTheAction(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	ctx, cancel := context.WithCancel(context.Background())
	r, err := Run(ctx, interrupting{fakeClient: f, cancel: cancel, failAction: true}, p, nil)
	if err != nil || r.Result != Fail || r.State != "interrupted" || r.Reason != "interrupted during the action: evicting k-a: context canceled" {
		t.Fatalf("err %v, report %s (%s): %s", err, r.Result, r.State, r.Reason)
	}
	lockReleased(t, f, r)
}

// Another drill took the lock between the preflight and the run: nothing else happens.
func TestRunLockTaken(t *testing.T) {
	f, p, _ := drillOf(t, newScenario(), Options{Kind: LeaderKill})
	f.leases[ns+"/"+LockName] = electionLease("drill-other", t0, 60)
	r, err := Run(context.Background(), f, p, nil)
	if !apierrors.IsAlreadyExists(err) || r.Result != Fail || len(r.Timeline) != 0 || len(f.called("Evict", "DeleteLease")) != 0 {
		t.Fatalf("err %v, report %s: %s, calls %v", err, r.Result, r.Reason, f.called("Evict", "DeleteLease"))
	}
}

func TestRestore(t *testing.T) {
	s := newScenario()
	s.nodes = append(s.nodes, node("n-x", "zone-a", CordonLabel, "drill-1"), node("n-y", "zone-b", CordonLabel, "drill-2"))
	f := newFake(s)
	f.leases[ns+"/"+LockName] = electionLease("drill-1", t0, 60)
	res, err := Restore(context.Background(), f, ns, "drill-2")
	if err != nil || !slices.Equal(res.Uncordoned, []string{"n-y (drill drill-2)"}) || res.LockDeleted != "" || !f.hasLease(LockName) {
		t.Fatalf("drill-2: %+v, %v", res, err)
	}
	if n := f.node("n-y"); n.Spec.Unschedulable || n.Labels[CordonLabel] != "" || f.node("n-x").Labels[CordonLabel] != "drill-1" {
		t.Fatalf("drill-2 restored the wrong nodes: n-y %+v", n)
	}
	f.inject("PatchNode uncordon n-x", apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n-x", errAPI))
	if res, err := Restore(context.Background(), f, "", "drill-1"); err == nil || len(res.Errors) != 1 || len(res.Uncordoned) != 0 {
		t.Fatalf("failing: %+v, %v", res, err)
	}
	// A failure a retry can cure is retried.
	f.inject("PatchNode uncordon n-x", apierrors.NewInternalError(errAPI))
	res, err = Restore(context.Background(), f, ns, "")
	if err != nil || !slices.Equal(res.Uncordoned, []string{"n-x (drill drill-1)"}) || res.LockDeleted != "karpenter/karpctl-drill (drill drill-1)" || f.hasLease(LockName) {
		t.Fatalf("every drill: %+v, %v", res, err)
	}
	// A second restore has nothing left to do.
	if res, err := Restore(context.Background(), f, ns, ""); err != nil || len(res.Uncordoned)+len(res.ProbeDeleted) != 0 || res.LockDeleted != "" {
		t.Fatalf("second restore: %+v, %v", res, err)
	}
}

var errAPI = errors.New("etcdserver: request timed out")

// quickRetries makes persist's backoff a millisecond for the test.
func quickRetries(t *testing.T) {
	saved := persistBackoff
	persistBackoff = [2]time.Duration{time.Millisecond, time.Millisecond}
	t.Cleanup(func() { persistBackoff = saved })
}
