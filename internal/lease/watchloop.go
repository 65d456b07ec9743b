package lease

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/units"
)

// WatchOptions tune WatchWith; the zero value is what `lease --watch` uses.
type WatchOptions struct {
	// Clock drives the expiry and silence checks and stamps the events; the real clock when nil.
	Clock clock.WithTicker
}

// tickEvery is how often the watch checks for expiry and silence (nothing is written when a lease
// expires or when the API server stops answering, so only the clock can notice).
const tickEvery = 100 * time.Millisecond

// Watch is WatchWith with the default options.
func Watch(ctx context.Context, c kubernetes.Interface, ns, name string, onEvent func(Event)) (Summary, error) {
	return WatchWith(ctx, c, ns, name, WatchOptions{}, onEvent)
}

// WatchWith streams the lease's changes into onEvent until ctx ends, and returns the summary. It uses
// a RetryWatcher, which resumes from the last resourceVersion after a dropped connection instead of
// re-listing, with watch bookmarks as news that the API server is alive.
//
// A quiet watch is ambiguous: the holder may have stopped renewing, or the API server may have stopped
// answering. When the watch has been quiet for half the stale threshold, and when an expiry falls due,
// one GET of the lease (with a short timeout, see Silence.ProbeTimeout) asks. An answer showing an old
// renewTime confirms the expiry; an answer showing a change the watch did not deliver restarts the
// watch from it; no answer, past the stale threshold, is reported as EventSilent instead of an expiry.
// When the API server answers again, EventResumed says whether the lease was renewed meanwhile, and the
// events that follow are reconciled from the lease's own timestamps.
func WatchWith(ctx context.Context, c kubernetes.Interface, ns, name string, o WatchOptions, onEvent func(Event)) (Summary, error) {
	clk := o.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	w := &leaseWatch{c: c, ns: ns, name: name, sel: fields.OneTermEqualSelector("metadata.name", name).String(),
		clk: clk, onEvent: onEvent, probes: make(chan probeResult, 1), done: make(chan struct{})}
	defer close(w.done)
	return w.run(ctx)
}

// leaseWatch is one WatchWith.
type leaseWatch struct {
	c             kubernetes.Interface
	ns, name, sel string
	clk           clock.WithTicker
	onEvent       func(Event)

	t   Tracker
	sil *Silence
	rw  watch.Interface
	// wire is the UnixNano time of the last event of any kind (bookmarks too) off the watch connection.
	wire atomic.Int64
	// rv is the resourceVersion of the last lease the watch delivered (or the read it started from).
	rv     string
	probe  *probe // the read in flight, nil when none
	probes chan probeResult
	seq    int
	done   chan struct{}
	// window is the last silence, from the last news before it to the first news after it.
	window [2]time.Time
}

type probe struct {
	seq     int
	started time.Time
	cancel  context.CancelFunc
}

type probeResult struct {
	seq   int
	lease *coordinationv1.Lease
	err   error
}

func (w *leaseWatch) run(ctx context.Context) (Summary, error) {
	w.t.Start(w.clk.Now())
	l, err := GetLease(ctx, w.c, w.ns, w.name)
	if err != nil {
		return w.t.Summary(), err
	}
	w.sil = NewSilence(StaleAfter(DefaultLeaseDuration), w.clk.Now())
	if l != nil {
		w.rv = l.ResourceVersion
		w.observe(l)
	} else {
		// Watch from "now" for its creation: a list gives the collection's resourceVersion.
		list, err := w.c.CoordinationV1().Leases(w.ns).List(ctx, metav1.ListOptions{FieldSelector: w.sel})
		if err != nil {
			return w.t.Summary(), fmt.Errorf("watching lease %s/%s: %w", w.ns, w.name, err)
		}
		w.rv = list.ResourceVersion
		w.onEvent(Event{Kind: EventMissing, Time: w.clk.Now()})
	}
	if err := w.startWatch(ctx); err != nil {
		return w.t.Summary(), err
	}
	defer func() { w.rw.Stop() }()
	tick := w.clk.NewTicker(tickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return w.finish(), nil
		case <-tick.C():
			w.tick(ctx)
		case res := <-w.probes:
			if err := w.probed(ctx, res); err != nil {
				return w.finish(), err
			}
		case ev, ok := <-w.rw.ResultChan():
			if !ok {
				if ctx.Err() != nil {
					return w.finish(), nil
				}
				return w.finish(), fmt.Errorf("watch on lease %s/%s ended", w.ns, w.name)
			}
			if err := w.delivered(ev); err != nil {
				return w.finish(), err
			}
		}
	}
}

// startWatch (re)starts the RetryWatcher from w.rv. Every event off the connection, bookmarks
// included (the RetryWatcher consumes those), is news that the API server answers.
func (w *leaseWatch) startWatch(ctx context.Context) error {
	lw := &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector, o.AllowWatchBookmarks = w.sel, true
			wi, err := w.c.CoordinationV1().Leases(w.ns).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			return watch.Filter(wi, func(e watch.Event) (watch.Event, bool) {
				w.wire.Store(w.clk.Now().UnixNano())
				return e, true
			}), nil
		},
	}
	rw, err := watchtools.NewRetryWatcherWithContext(ctx, w.rv, lw)
	if err != nil {
		return fmt.Errorf("watching lease %s/%s: %w", w.ns, w.name, err)
	}
	w.rw = rw
	return nil
}

// delivered handles one event of the watch.
func (w *leaseWatch) delivered(ev watch.Event) error {
	var obs *coordinationv1.Lease
	switch ev.Type {
	case watch.Added, watch.Modified:
		if obs, _ = ev.Object.(*coordinationv1.Lease); obs == nil {
			return nil
		}
		w.rv = obs.ResourceVersion
	case watch.Deleted:
	case watch.Error:
		return fmt.Errorf("watching lease %s/%s: %v", w.ns, w.name, errorFrom(ev.Object))
	default:
		return nil
	}
	now := w.clk.Now()
	w.heard(now, obs)
	w.observe(obs)
	w.emit(w.t.TickHeard(now, w.sil.LastHeard()))
	return nil
}

// tick checks the clock: news off the wire (bookmarks), a read past its timeout, silence, a due
// expiry and whether to read.
func (w *leaseWatch) tick(ctx context.Context) {
	now := w.clk.Now()
	if wire := time.Unix(0, w.wire.Load()); wire.After(w.sil.LastHeard()) {
		if w.sil.Silent() {
			w.startProbe(ctx, now) // the connection speaks again: read the lease to reconcile
		} else {
			w.sil.Heard(wire)
		}
	}
	if p := w.probe; p != nil && now.Sub(p.started) >= w.sil.ProbeTimeout() {
		p.cancel()
		w.probe = nil
		w.sil.ProbeFailed()
	}
	if quiet, ok := w.sil.Check(now); ok {
		holder, _ := w.t.state()
		w.emit([]Event{{Kind: EventSilent, Time: now, From: holder, Silence: units.Seconds(quiet), Transitions: w.t.transitions}})
	}
	// An expiry is only reported on news from after it: ask as soon as it falls due.
	at, due := w.t.ExpiryDue(now)
	if due && !w.sil.LastHeard().After(at) && !w.sil.LastProbe().After(at) || w.sil.NeedProbe(now) {
		w.startProbe(ctx, now)
	}
	w.emit(w.t.TickHeard(now, w.sil.LastHeard()))
}

// startProbe reads the lease in the background unless a read is in flight. Its timeout is kept by
// tick, on w's clock.
func (w *leaseWatch) startProbe(ctx context.Context, now time.Time) {
	if w.probe != nil {
		return
	}
	w.seq++
	pctx, cancel := context.WithCancel(ctx)
	w.probe = &probe{seq: w.seq, started: now, cancel: cancel}
	w.sil.ProbeStarted(now)
	go func(seq int) {
		l, err := GetLease(pctx, w.c, w.ns, w.name)
		select {
		case w.probes <- probeResult{seq: seq, lease: l, err: err}:
		case <-w.done:
		}
	}(w.seq)
}

// probed handles a read's answer; one that came after its timeout was already counted as failed.
func (w *leaseWatch) probed(ctx context.Context, res probeResult) error {
	if w.probe == nil || res.seq != w.probe.seq {
		return nil
	}
	w.probe.cancel()
	w.probe = nil
	if res.err != nil {
		w.sil.ProbeFailed()
		return nil
	}
	now := w.clk.Now()
	w.heard(now, res.lease)
	if l := res.lease; l != nil && l.ResourceVersion != w.rv {
		// The API server answers but the watch did not deliver this change: its connection is stuck.
		// Start it again from the read, which holds everything the watch missed.
		w.rw.Stop()
		w.rv = l.ResourceVersion
		if err := w.startWatch(ctx); err != nil {
			return err
		}
		w.observe(l)
	}
	w.emit(w.t.TickHeard(now, w.sil.LastHeard()))
	return nil
}

// heard records news at now with the lease as it then was (nil: deleted or missing). After a
// silence it reports EventResumed, reconciled from that lease: was it renewed meanwhile?
func (w *leaseWatch) heard(now time.Time, l *coordinationv1.Lease) {
	resumed, was := w.sil.Heard(now)
	if !resumed {
		return
	}
	from := now.Add(-was)
	w.window = [2]time.Time{from, now}
	w.t.silence(was)
	e := Event{Kind: EventResumed, Time: now, Silence: units.Seconds(was), Transitions: w.t.transitions}
	if l != nil {
		e.To = ptr.Deref(l.Spec.HolderIdentity, "")
		if l.Spec.RenewTime != nil {
			rt := l.Spec.RenewTime.Time
			renewed := rt.After(from)
			e.LastRenewTime, e.RenewedDuringSilence = &rt, &renewed
		}
	}
	w.emit([]Event{e})
}

// observe feeds the lease to the tracker and keeps the silence threshold at the lease's stale threshold.
func (w *leaseWatch) observe(l *coordinationv1.Lease) {
	w.emit(w.t.Observe(l, w.clk.Now()))
	w.sil.SetThreshold(StaleAfter(w.t.duration))
}

// emit passes events on, marking those whose lease time falls inside the last silence.
func (w *leaseWatch) emit(evs []Event) {
	for _, e := range evs {
		if e.Kind != EventResumed && e.Kind != EventSilent && !w.window[0].IsZero() &&
			!e.Time.Before(w.window[0]) && !e.Time.After(w.window[1]) {
			e.DuringSilence = true
		}
		w.onEvent(e)
	}
}

// finish ends the watch: a silence still going on counts in the summary.
func (w *leaseWatch) finish() Summary {
	now := w.clk.Now()
	w.t.sum.Until = now
	if w.sil != nil && w.sil.Silent() {
		w.t.silence(now.Sub(w.sil.LastHeard()))
	}
	if w.probe != nil {
		w.probe.cancel()
	}
	return w.t.Summary()
}

func errorFrom(o runtime.Object) string {
	if s, ok := o.(*metav1.Status); ok {
		return s.Message
	}
	return fmt.Sprintf("%v", o)
}
