package lease

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func TestSilenceDetector(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	s := NewSilence(10*time.Second, fc.Now()) // Karpenter's 15 s lease: stale after 10 s
	if s.ProbeAfter != 5*time.Second || s.ProbeTimeout() != 5*time.Second {
		t.Fatalf("probe after %s, timeout %s", s.ProbeAfter, s.ProbeTimeout())
	}
	fc.Step(4 * time.Second)
	if s.NeedProbe(fc.Now()) {
		t.Fatal("probe before half the threshold")
	}
	fc.Step(time.Second)
	if !s.NeedProbe(fc.Now()) {
		t.Fatal("no probe at half the threshold")
	}
	s.ProbeStarted(fc.Now())
	if s.NeedProbe(fc.Now().Add(time.Second)) {
		t.Fatal("a second probe within ProbeAfter of the first")
	}
	// Quiet past the threshold without a failed read is not silence: the holder may have stopped.
	fc.Step(6 * time.Second)
	if _, ok := s.Check(fc.Now()); ok || s.Silent() {
		t.Fatal("silence without a failed read")
	}
	s.ProbeFailed()
	if q, ok := s.Check(fc.Now()); !ok || q != 11*time.Second || !s.Silent() {
		t.Fatalf("silence not reported: %s %t", q, ok)
	}
	if _, ok := s.Check(fc.Now().Add(time.Second)); ok {
		t.Fatal("reported twice within one threshold")
	}
	fc.Step(9 * time.Second)
	if q, ok := s.Check(fc.Now()); !ok || q != 20*time.Second {
		t.Fatalf("no second report at twice the threshold: %s %t", q, ok)
	}
	fc.Step(3 * time.Second)
	resumed, was := s.Heard(fc.Now())
	if !resumed || was != 23*time.Second || s.Silent() {
		t.Fatalf("resumed %t after %s", resumed, was)
	}
	if resumed, _ := s.Heard(fc.Now().Add(time.Second)); resumed {
		t.Fatal("resumed twice")
	}
	// A short lease: the timeout never drops below 1 s.
	if short := NewSilence(StaleAfter(2*time.Second), t0); short.ProbeTimeout() != time.Second {
		t.Fatalf("short lease probe timeout %s", short.ProbeTimeout())
	}
}

// apiServer is a fake clientset whose lease GETs block while frozen, as against a stopped kube-apiserver.
type apiServer struct {
	*fake.Clientset
	w      *watch.FakeWatcher
	mu     sync.Mutex
	frozen chan struct{} // closed = thawed; nil = never frozen
	gets   int
}

func newAPIServer(l *coordinationv1.Lease) *apiServer {
	a := &apiServer{Clientset: fake.NewClientset(l), w: watch.NewFake()}
	a.PrependWatchReactor("leases", func(k8stesting.Action) (bool, watch.Interface, error) { return true, a.w, nil })
	a.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		a.mu.Lock()
		a.gets++
		f := a.frozen
		a.mu.Unlock()
		if f != nil {
			<-f
		}
		return false, nil, nil // fall through to the object tracker
	})
	return a
}

func (a *apiServer) freeze() {
	a.mu.Lock()
	a.frozen = make(chan struct{})
	a.mu.Unlock()
}

func (a *apiServer) thaw() {
	a.mu.Lock()
	close(a.frozen)
	a.frozen = nil
	a.mu.Unlock()
}

func (a *apiServer) getCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gets
}

type fakeWatch struct {
	t      *testing.T
	fc     *clocktesting.FakeClock
	mu     sync.Mutex
	events []Event
	done   chan Summary
	cancel context.CancelFunc
}

func startFakeWatch(t *testing.T, a *apiServer, fc *clocktesting.FakeClock) *fakeWatch {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeWatch{t: t, fc: fc, done: make(chan Summary, 1), cancel: cancel}
	go func() {
		sum, _ := WatchWith(ctx, a, "karpenter", "karpenter-leader-election", WatchOptions{Clock: fc}, func(e Event) {
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
		})
		f.done <- sum
	}()
	f.waitFor(EventObserved)
	return f
}

// step advances the fake clock by d in ticks, giving the watch loop real time to handle each.
func (f *fakeWatch) step(d time.Duration) {
	for end := f.fc.Now().Add(d); f.fc.Now().Before(end); {
		f.fc.Step(tickEvery)
		time.Sleep(3 * time.Millisecond)
	}
}

func (f *fakeWatch) kinds() []EventKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []EventKind
	for _, e := range f.events {
		out = append(out, e.Kind)
	}
	return out
}

func (f *fakeWatch) find(kind EventKind) (Event, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if e.Kind == kind {
			return e, true
		}
	}
	return Event{}, false
}

func (f *fakeWatch) waitFor(kind EventKind) Event {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if e, ok := f.find(kind); ok {
			return e
		}
	}
	f.t.Fatalf("no %s event; got %v", kind, f.kinds())
	return Event{}
}

func (f *fakeWatch) stop() Summary {
	f.cancel()
	return <-f.done
}

func heldLease(holder, rv string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election", ResourceVersion: rv},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](15), LeaseTransitions: ptr.To[int32](0),
			AcquireTime: &metav1.MicroTime{Time: t0}, RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

// The API server stops answering: the watch reports the silence at the stale threshold, never an
// expiry, however long it lasts; when reads answer again it says the lease was not renewed meanwhile
// and only then reports the expiry, at the lease's own time, marked as inside the silence.
func TestWatchReportsSilenceNotExpiry(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	a := newAPIServer(heldLease("a_1", "10", t0))
	f := startFakeWatch(t, a, fc)
	a.freeze()
	f.step(9900 * time.Millisecond)
	if _, ok := f.find(EventSilent); ok {
		t.Fatalf("silent before the 10 s stale threshold: %v", f.kinds())
	}
	f.step(200 * time.Millisecond)
	s := f.waitFor(EventSilent)
	if s.Silence.Duration() < 10*time.Second || s.Silence.Duration() > 10300*time.Millisecond || s.From != "a_1" {
		t.Fatalf("silence event %+v", s)
	}
	f.step(15 * time.Second) // 25 s without news: the lease's duration (15 s) has long passed
	if _, ok := f.find(EventExpired); ok {
		t.Fatalf("expiry reported while the API server was silent: %v", f.kinds())
	}
	a.thaw()
	r := f.waitFor(EventResumed)
	f.step(200 * time.Millisecond)
	e := f.waitFor(EventExpired)
	if r.RenewedDuringSilence == nil || *r.RenewedDuringSilence || r.LastRenewTime == nil || !r.LastRenewTime.Equal(t0) || r.Silence.Duration() < 25*time.Second {
		t.Fatalf("resumed %+v", r)
	}
	if !e.Time.Equal(t0.Add(15*time.Second)) || !e.DuringSilence || e.From != "a_1" {
		t.Fatalf("expiry %+v: want the lease's own time t0+15s, inside the silence", e)
	}
	kinds := f.kinds()
	if i, j := indexOf(kinds, EventResumed), indexOf(kinds, EventExpired); i > j {
		t.Fatalf("expiry before the API server answered: %v", kinds)
	}
	sum := f.stop()
	if sum.Silences != 1 || sum.LongestSilence.Duration() < 25*time.Second || sum.Expiries != 1 {
		t.Fatalf("summary %+v", sum)
	}
}

// The holder stops renewing while the API server answers: reads show the old renewTime, so there is
// no silence, and the expiry is reported as soon as a read after the expiry moment confirms it.
func TestWatchConfirmsExpiryWithARead(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	a := newAPIServer(heldLease("a_1", "10", t0))
	f := startFakeWatch(t, a, fc)
	f.step(14900 * time.Millisecond)
	if _, ok := f.find(EventExpired); ok {
		t.Fatalf("expired before the duration: %v", f.kinds())
	}
	f.step(300 * time.Millisecond)
	e := f.waitFor(EventExpired)
	if !e.Time.Equal(t0.Add(15*time.Second)) || e.DuringSilence {
		t.Fatalf("expiry %+v", e)
	}
	if _, ok := f.find(EventSilent); ok {
		t.Fatalf("silence reported although every read answered: %v", f.kinds())
	}
	// Reads while quiet: one every half stale threshold (5 s) plus the expiry's, not one per tick.
	if n := a.getCount(); n < 4 || n > 6 {
		t.Fatalf("%d GETs in 15 s of quiet", n)
	}
	f.stop()
}

// A stuck watch connection while the API server answers: the read shows renewals the watch never
// delivered, so the watch restarts from it and the renewal is reported; no silence.
func TestWatchRestartsAStuckConnection(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	a := newAPIServer(heldLease("a_1", "10", t0))
	var mu sync.Mutex
	var rvs []string
	second := watch.NewFake()
	a.PrependWatchReactor("leases", func(act k8stesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		rvs = append(rvs, act.(k8stesting.WatchActionImpl).WatchRestrictions.ResourceVersion)
		if len(rvs) == 1 {
			return true, a.w, nil
		}
		return true, second, nil
	})
	f := startFakeWatch(t, a, fc)
	renewed := heldLease("a_1", "11", t0.Add(4*time.Second))
	if err := a.Tracker().Update(coordinationv1.SchemeGroupVersion.WithResource("leases"), renewed, "karpenter"); err != nil {
		t.Fatal(err)
	}
	f.step(5100 * time.Millisecond)
	e := f.waitFor(EventRenewed)
	if !e.Time.Equal(t0.Add(4 * time.Second)) {
		t.Fatalf("renewal %+v", e)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := len(rvs)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watch was not restarted")
		}
	}
	mu.Lock()
	if rvs[1] != "11" {
		t.Fatalf("restarted from %q, want the read's 11", rvs[1])
	}
	mu.Unlock()
	if _, ok := f.find(EventSilent); ok {
		t.Fatalf("silence reported: %v", f.kinds())
	}
	f.stop()
}

func indexOf(ks []EventKind, k EventKind) int {
	for i, x := range ks {
		if x == k {
			return i
		}
	}
	return -1
}
