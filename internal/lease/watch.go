package lease

import (
	"math"
	"sort"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/units"
)

// EventKind names what changed on the lease.
type EventKind string

const (
	EventObserved EventKind = "observed" // first sight
	EventAcquired EventKind = "acquired" // a holder took a lease that had none, or a new holder replaced another
	EventReleased EventKind = "released" // holderIdentity emptied: the leader let go
	EventExpired  EventKind = "expired"  // renew age passed the duration with no new holder
	EventRenewed  EventKind = "renewed"
	EventDeleted  EventKind = "deleted"
	EventMissing  EventKind = "missing" // the lease does not exist when the watch starts
	// EventSilent: the watch has been quiet past the stale threshold and a fresh read of the lease
	// timed out or failed. Nothing can be said about the holder until the API server answers again.
	EventSilent EventKind = "api-silent"
	// EventResumed: the API server answers again after a silence; the events that follow are
	// reconciled from the lease's own timestamps.
	EventResumed EventKind = "api-resumed"
)

// Event is one change the tracker saw. Times come from the Lease's own timestamps where they exist,
// so gaps do not depend on when the watch delivered the update.
type Event struct {
	Kind EventKind `json:"kind"`
	// Time is when it happened by the lease (acquireTime, renewTime, or expiry = renewTime+duration).
	Time time.Time `json:"time"`
	From string    `json:"from,omitempty"`
	To   string    `json:"to,omitempty"`
	// Gap is the time without a leader before an acquisition: new acquireTime − the previous
	// holder's last renewTime (its release time when it released).
	Gap         units.Seconds `json:"gapSeconds,omitempty"`
	Transitions int32         `json:"leaseTransitions"`
	// Interval is the time since the previous renewal, for renewals.
	Interval time.Duration `json:"-"`
	// Silence is, for api-silent, how long the API server has given no news; for api-resumed, how long
	// it gave none in all.
	Silence units.Seconds `json:"silenceSeconds,omitempty"`
	// RenewedDuringSilence (api-resumed) answers, from the lease read when the API server answered
	// again, whether the holder renewed it while the API server was silent; LastRenewTime is the
	// renewTime that read showed.
	RenewedDuringSilence *bool      `json:"renewedDuringSilence,omitempty"`
	LastRenewTime        *time.Time `json:"lastRenewTime,omitempty"`
	// DuringSilence marks an event reconciled after a silence whose lease time falls inside it.
	DuringSilence bool `json:"duringSilence,omitempty"`
}

// Summary is what --watch prints on exit: the election cycle's fluctuation.
type Summary struct {
	Since         time.Time `json:"since"`
	Until         time.Time `json:"until"`
	HolderChanges int       `json:"holderChanges"`
	Releases      int       `json:"releases"`
	Expiries      int       `json:"expiries"`
	Renewals      int       `json:"renewals"`
	// Intervals is how many renewal intervals the percentiles are computed from.
	Intervals  int           `json:"renewIntervals"`
	LongestGap units.Seconds `json:"longestGapSeconds"`
	RenewP50   units.Seconds `json:"renewIntervalP50Seconds"`
	RenewP99   units.Seconds `json:"renewIntervalP99Seconds"`
	RenewMax   units.Seconds `json:"renewIntervalMaxSeconds"`
	// Silences counts the times the API server went silent (see EventSilent); LongestSilence is the
	// longest.
	Silences       int           `json:"apiSilences"`
	LongestSilence units.Seconds `json:"longestApiSilenceSeconds"`
}

// Tally counts holder changes, releases, expiries and takeover gaps from Events. The watch summary
// (Tracker) and the exporter both count with it, so `lease --watch` and `lease --serve` agree.
type Tally struct {
	HolderChanges, Releases, Expiries int
	// Gaps is how many acquisitions had a known previous holder, so a measured gap.
	Gaps                int
	LastGap, LongestGap time.Duration
}

// Add counts one event.
func (t *Tally) Add(ev Event) {
	switch ev.Kind {
	case EventAcquired:
		// From is the previous non-empty holder. Without one (the first holder seen) nothing changed
		// hands and no gap was measured; a holder re-taking its own released lease is no change.
		if ev.From == "" {
			return
		}
		if ev.From != ev.To {
			t.HolderChanges++
		}
		t.Gaps++
		t.LastGap = ev.Gap.Duration()
		t.LongestGap = max(t.LongestGap, ev.Gap.Duration())
	case EventReleased:
		t.Releases++
	case EventExpired:
		t.Expiries++
	}
}

// Tracker turns successive observations of one Lease into Events. Not safe for concurrent use.
type Tracker struct {
	seen       bool
	holder     string
	lastHolder string    // the last non-empty holder
	lastRenew  time.Time // the last renewTime of lastHolder (or the release time)
	renew      time.Time
	duration   time.Duration
	expired    bool
	// justAcquired marks the first renewal after an acquisition (see Observe).
	justAcquired bool
	intervals    []time.Duration
	sum          Summary
	tally        Tally
	transitions  int32
}

// Start sets when watching began (Observe and Tick otherwise start the clock at their first call).
func (t *Tracker) Start(now time.Time) { t.sum.Since, t.sum.Until = now, now }

// Observe feeds one state of the lease (nil = deleted).
func (t *Tracker) Observe(l *coordinationv1.Lease, now time.Time) []Event {
	if t.sum.Since.IsZero() {
		t.sum.Since = now
	}
	t.sum.Until = now
	if l == nil {
		t.seen = false
		return []Event{{Kind: EventDeleted, Time: now, From: t.holder}}
	}
	holder, renew, acquire := ptr.Deref(l.Spec.HolderIdentity, ""), time.Time{}, time.Time{}
	if l.Spec.RenewTime != nil {
		renew = l.Spec.RenewTime.Time
	}
	if l.Spec.AcquireTime != nil {
		acquire = l.Spec.AcquireTime.Time
	}
	t.duration, _ = Duration(l)
	if l.Spec.LeaseTransitions != nil {
		t.transitions = *l.Spec.LeaseTransitions
	}
	var evs []Event
	switch {
	case !t.seen:
		t.seen = true
		evs = append(evs, Event{Kind: EventObserved, Time: renew, To: holder, Transitions: t.transitions})
		t.expired = false
	case holder == t.holder && holder != "":
		if renew.After(t.renew) {
			iv := renew.Sub(t.renew)
			// client-go renews right after acquiring (its renew loop polls immediately): that
			// milliseconds-long step says nothing about the renewal cycle, so it is not an interval.
			if !t.justAcquired {
				t.intervals = append(t.intervals, iv)
			}
			t.justAcquired = false
			t.sum.Renewals++
			t.expired = false
			evs = append(evs, Event{Kind: EventRenewed, Time: renew, To: holder, Interval: iv, Transitions: t.transitions})
		}
	case holder == "" && t.holder != "":
		evs = append(evs, Event{Kind: EventReleased, Time: renew, From: t.holder, Transitions: t.transitions})
	case holder != "" && holder != t.holder:
		if t.holder != "" && !t.expired && !t.renew.IsZero() {
			// Taken over without a release: the previous holder's lease must have expired first, even
			// if the new holder won the race with our expiry tick.
			evs = append(evs, Event{Kind: EventExpired, Time: t.renew.Add(t.duration), From: t.holder, Transitions: t.transitions})
		}
		at := acquire
		if at.IsZero() {
			at = renew
		}
		e := Event{Kind: EventAcquired, Time: at, From: t.lastHolder, To: holder, Transitions: t.transitions}
		if !t.lastRenew.IsZero() {
			e.Gap = units.Seconds(at.Sub(t.lastRenew))
		}
		t.expired = false
		t.justAcquired = true
		evs = append(evs, e)
	}
	t.holder, t.renew = holder, renew
	if holder != "" {
		t.lastHolder = holder
		t.lastRenew = renew
	} else if !renew.IsZero() {
		// A release stamps renewTime with the release time: leadership ended then.
		t.lastRenew = renew
	}
	for _, e := range evs {
		t.tally.Add(e)
	}
	return evs
}

// Tick reports expiry once the held lease's renew age passes its duration without a new holder.
func (t *Tracker) Tick(now time.Time) []Event { return t.TickHeard(now, now) }

// TickHeard is Tick for a watcher that last heard from the API server at heard: the expiry is only
// reported once news from after the expiry moment (a watch event or a fresh read) showed the lease
// still unrenewed. A quiet watch alone cannot tell an expired lease from an API server that stopped
// answering.
func (t *Tracker) TickHeard(now, heard time.Time) []Event {
	t.sum.Until = now
	if at, due := t.ExpiryDue(now); due && heard.After(at) {
		t.expired = true
		e := Event{Kind: EventExpired, Time: at, From: t.holder, Transitions: t.transitions}
		t.tally.Add(e)
		return []Event{e}
	}
	return nil
}

// ExpiryDue reports when the held lease expires (its renewTime + duration) and whether that moment
// has passed at now without an expiry reported yet.
func (t *Tracker) ExpiryDue(now time.Time) (time.Time, bool) {
	if !t.seen || t.holder == "" || t.expired || t.renew.IsZero() {
		return time.Time{}, false
	}
	at := t.renew.Add(t.duration)
	return at, now.After(at)
}

// silence counts one API-server silence of length d in the summary.
func (t *Tracker) silence(d time.Duration) {
	t.sum.Silences++
	t.sum.LongestSilence = max(t.sum.LongestSilence, units.Seconds(d))
}

// Summary returns the statistics so far.
func (t *Tracker) Summary() Summary {
	s := t.sum
	s.HolderChanges, s.Releases, s.Expiries, s.LongestGap = t.tally.HolderChanges, t.tally.Releases, t.tally.Expiries, units.Seconds(t.tally.LongestGap)
	s.Intervals = len(t.intervals)
	s.RenewP50, s.RenewP99, s.RenewMax = units.Seconds(Percentile(t.intervals, 50)), units.Seconds(Percentile(t.intervals, 99)), units.Seconds(Percentile(t.intervals, 100))
	return s
}

// Percentile is the nearest-rank percentile (p in 0..100) of ds; 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(s) {
		rank = len(s)
	}
	return s[rank-1]
}

// state is the current holder and its last renewTime.
func (t *Tracker) state() (holder string, renew time.Time) { return t.holder, t.renew }
