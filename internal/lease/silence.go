package lease

import "time"

// Silence tells "no news from the API server" from "the holder stopped renewing". A lease watch is
// quiet in both cases, and a watch cannot tell them apart: the lease looks unrenewed either way. What
// separates them is a fresh read. When a read of the lease succeeds and shows an old renewTime, the
// holder stopped; when it times out or fails, the API server is the one not answering and nothing can
// be said about the holder.
//
// Silence keeps when the watch or a read last brought news (Heard) and whether a read failed since
// (ProbeFailed). Quiet for longer than Threshold with a read failed since is silence. It reads no
// clock: callers pass the time, so it runs the same over a fake clock. Not safe for concurrent use.
type Silence struct {
	// Threshold is the quiet time, with a failed read, after which the API server counts as silent:
	// the lease's stale threshold (StaleAfter), past which a held lease would look stale.
	Threshold time.Duration
	// ProbeAfter is the quiet time after which a read checks the API server, and the spacing of reads
	// while the quiet lasts.
	ProbeAfter time.Duration

	heard     time.Time // last news: a watch event (bookmarks included) or a successful read
	failed    bool      // a read failed since heard
	silent    bool
	reports   int       // silence reports made since heard
	lastProbe time.Time // start of the last read
}

// NewSilence is a detector for a lease whose stale threshold is staleAfter, news last heard at start.
func NewSilence(staleAfter time.Duration, start time.Time) *Silence {
	s := &Silence{heard: start}
	s.SetThreshold(staleAfter)
	return s
}

// SetThreshold sets Threshold, and ProbeAfter to half of it, so that a read that fails within the
// other half lets the silence be reported right at the threshold.
func (s *Silence) SetThreshold(staleAfter time.Duration) {
	s.Threshold, s.ProbeAfter = staleAfter, staleAfter/2
}

// ProbeTimeout is how long a read may take before it counts as failed: half the threshold, between
// 1 s (a loaded API server answers a GET of one object well within that) and 5 s.
func (s *Silence) ProbeTimeout() time.Duration {
	return min(max(s.Threshold/2, time.Second), 5*time.Second)
}

// Heard records news at now. It returns whether the API server had been reported silent, and for how
// long it was: from the last news before the silence to now.
func (s *Silence) Heard(now time.Time) (resumed bool, was time.Duration) {
	resumed, was = s.silent, now.Sub(s.heard)
	if now.After(s.heard) {
		s.heard = now
	}
	s.failed, s.silent, s.reports = false, false, 0
	return resumed, was
}

// LastHeard is the time of the last news.
func (s *Silence) LastHeard() time.Time { return s.heard }

// Silent reports whether the API server is reported silent now.
func (s *Silence) Silent() bool { return s.silent }

// NeedProbe reports whether a read should check the API server at now: the watch has been quiet for
// ProbeAfter and the last read started at least ProbeAfter ago.
func (s *Silence) NeedProbe(now time.Time) bool {
	return now.Sub(s.heard) >= s.ProbeAfter && now.Sub(s.lastProbe) >= s.ProbeAfter
}

// ProbeStarted records that a read started at now.
func (s *Silence) ProbeStarted(now time.Time) { s.lastProbe = now }

// LastProbe is when the last read started.
func (s *Silence) LastProbe() time.Time { return s.lastProbe }

// ProbeFailed records a read that timed out or failed.
func (s *Silence) ProbeFailed() { s.failed = true }

// Check reports the silence at now, once when it starts — quiet past Threshold with a failed read —
// and again each time it has lasted one more Threshold. ok is false when there is nothing to report.
func (s *Silence) Check(now time.Time) (quiet time.Duration, ok bool) {
	quiet = now.Sub(s.heard)
	if !s.failed || quiet < s.Threshold || s.Threshold <= 0 {
		return quiet, false
	}
	if n := int(quiet / s.Threshold); n > s.reports {
		s.silent, s.reports = true, n
		return quiet, true
	}
	return quiet, false
}
