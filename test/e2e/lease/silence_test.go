package lease

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/test/e2e"
)

// The kube-apiserver freezes (SIGSTOP) for twice the stale threshold of a short lease while
// `lease --watch` runs: the watch reports the silence, never an expiry, while it lasts; after SIGCONT
// it says the lease was not renewed meanwhile and reports the true sequence from the lease's own
// timestamps — the lease expired during the silence, the leader (which gave up after its renew
// deadline, as Karpenter does) was replaced. `health` during the freeze is "API server unreachable"
// (exit 1), not a stale lease.
func TestAPIServerFreezeIsSilenceNotExpiry(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "freeze"
	pods := setup(ctx, t, ns, harness.KarpenterSpec{})
	// A 3 s lease (stale after 2 s), renew deadline 2 s, retry 250 ms, no release: like Karpenter's
	// timings scaled down. The freeze lasts 2 × 2 s.
	timings := func(pod string) harness.ReplicaSpec {
		return harness.ReplicaSpec{Namespace: ns, Pod: pod, NoRelease: true,
			LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond}
	}
	const duration = 3 * time.Second
	stale := lease.StaleAfter(duration)
	e2e.Replica(t, env, timings(pods[0].Name))
	e2e.WaitLeaseHolder(ctx, t, env, ns, "", pods[0].Name)
	e2e.Replica(t, env, timings(pods[1].Name))

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watching := e2e.Start(watchCtx, env.Kubeconfig, "lease", "--watch", "-o", "json", "--karpenter-namespace", ns)
	waitWatchEvent(ctx, t, watching, lease.EventObserved)

	thaw, err := env.FreezeAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = thaw() }) // never leave the API server frozen, whatever fails below
	frozen := time.Now()
	healthDone := make(chan e2e.Result, 1)
	go func() {
		healthDone <- e2e.Karpctl(ctx, t, env.Kubeconfig, "health", "--no-metrics", "--api-timeout", "1s", "--karpenter-namespace", ns)
	}()
	time.Sleep(2*stale - time.Since(frozen))
	duringFreeze := watchEvents(t, watching.Stdout())
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver frozen for %s (stale threshold %s)", time.Since(frozen).Round(time.Millisecond), stale)

	silent := firstOf(duringFreeze, lease.EventSilent)
	if silent == nil {
		t.Fatalf("no api-silent event during the freeze: %+v", duringFreeze)
	}
	if e := firstOf(duringFreeze, lease.EventExpired); e != nil {
		t.Fatalf("expiry reported while the API server was frozen: %+v", e)
	}
	if silent.Silence.Duration() < stale || !strings.HasPrefix(silent.From, pods[0].Name+"_") {
		t.Fatalf("silence %+v: want ≥ the stale threshold %s, naming the holder", silent, stale)
	}
	h := <-healthDone
	if h.Code != 1 || !strings.Contains(h.Stderr, "API server unreachable") || strings.Contains(h.Stdout, "Stale") {
		t.Fatalf("health during the freeze: exit %d, stderr %q", h.Code, h.Stderr)
	}

	// After SIGCONT: the true sequence.
	after := e2e.WaitLeaseHolder(ctx, t, env, ns, "", pods[1].Name)
	waitWatchEvent(ctx, t, watching, lease.EventAcquired)
	stopWatch()
	evs := watchEvents(t, watching.Wait(t).Stdout)
	resumed, expired := firstOf(evs, lease.EventResumed), firstOf(evs, lease.EventExpired)
	changes, _ := parseWatch(t, watching.Stdout())
	switch {
	case resumed == nil || resumed.RenewedDuringSilence == nil || *resumed.RenewedDuringSilence || resumed.LastRenewTime == nil:
		t.Fatalf("resumed %+v: want 'not renewed meanwhile' with the lease's last renewTime", resumed)
	case expired == nil || !expired.DuringSilence || !expired.Time.Equal(resumed.LastRenewTime.Add(duration)):
		t.Fatalf("expiry %+v: want the last renewTime + %s, marked inside the silence", expired, duration)
	case len(changes) != 1 || !strings.HasPrefix(changes[0].To, pods[1].Name+"_"):
		t.Fatalf("holder changes %+v", changes)
	}
	if order := kindsOf(evs); indexOf(order, lease.EventSilent) > indexOf(order, lease.EventResumed) ||
		indexOf(order, lease.EventResumed) > indexOf(order, lease.EventExpired) || indexOf(order, lease.EventExpired) > indexOf(order, lease.EventAcquired) {
		t.Fatalf("sequence %v: want silent, resumed, expired, acquired", order)
	}
	want := after.Spec.AcquireTime.Time.Sub(*resumed.LastRenewTime).Seconds()
	if math.Abs(changes[0].Gap.Duration().Seconds()-want) > 0.1 {
		t.Fatalf("gap %.3fs, the lease's timestamps say %.3fs", changes[0].Gap.Duration().Seconds(), want)
	}
	t.Logf("silent after %.1fs; resumed after %.1fs without news; expired at last renewal + %s; %.3fs without a leader",
		silent.Silence.Duration().Seconds(), resumed.Silence.Duration().Seconds(), duration, changes[0].Gap.Duration().Seconds())
}

func watchEvents(t *testing.T, out string) []lease.Event {
	t.Helper()
	var evs []lease.Event
	lines := strings.Split(out, "\n")
	for _, line := range lines[:len(lines)-1] { // complete lines only
		var l watchLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("watch line %q: %v", line, err)
		}
		if l.Event != nil {
			evs = append(evs, *l.Event)
		}
	}
	return evs
}

func firstOf(evs []lease.Event, kind lease.EventKind) *lease.Event {
	for i := range evs {
		if evs[i].Kind == kind {
			return &evs[i]
		}
	}
	return nil
}

func kindsOf(evs []lease.Event) []lease.EventKind {
	out := make([]lease.EventKind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func indexOf(ks []lease.EventKind, k lease.EventKind) int {
	for i, x := range ks {
		if x == k {
			return i
		}
	}
	return len(ks)
}
