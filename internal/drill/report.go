// Package drill runs Karpenter failover drills: preflight gates, a plan, the action (evict or delete
// the leader; cordon a zone and evict its replicas), a live timeline built from watches of the Lease
// and the Karpenter pods, a PASS/FAIL judgement against the lease's own timings, a JSON report, a
// local history file, and restore of anything a drill changed. It prints nothing: callers render.
package drill

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/karpctl/karpctl/internal/lease"
)

// Kind of drill.
type Kind string

const (
	LeaderKill Kind = "leader-kill"
	ZoneOutage Kind = "zone-outage"
)

// Mode of the action on a pod.
type Mode string

const (
	// Evict goes through the Eviction API, which honours PodDisruptionBudgets; the pod gets its grace period.
	Evict Mode = "evict"
	// Hard deletes with grace period 0, like a crash: the lease cannot be released and must expire.
	Hard Mode = "hard"
)

// Result of a drill.
type Result string

const (
	Pass    Result = "PASS"
	Fail    Result = "FAIL"
	Refused Result = "REFUSED"
	DryRun  Result = "DRY-RUN"
)

// Path is how leadership changed hands.
type Path string

const (
	Released  Path = "released"  // the old holder emptied holderIdentity on shutdown
	Expired   Path = "expired"   // nobody released: the lease had to expire first
	Continued Path = "continued" // the leader was not disrupted (zone-outage with the leader elsewhere)
	NoChange  Path = ""          // no new holder was seen
)

// Event is one line of the live timeline. Lease events carry the lease's own timestamps.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail"`
	// Since is Time minus the action (eviction) time.
	SinceSeconds float64 `json:"sinceActionSeconds"`
}

// Timeline event kinds.
const (
	EvLock          = "lock-acquired"
	EvCordoned      = "node-cordoned"
	EvEvicted       = "eviction-accepted"
	EvDeleted       = "pod-deleted"
	EvEvictBlocked  = "eviction-blocked"
	EvTerminating   = "old-leader-terminating"
	EvPodGone       = "pod-gone"
	EvReleased      = "lease-released"
	EvExpired       = "lease-expired"
	EvAcquired      = "new-holder-acquired"
	EvReplacement   = "replacement-created"
	EvScheduled     = "replacement-scheduled"
	EvUnschedulable = "replacement-unschedulable"
	EvReady         = "replacement-ready"
	EvAllReady      = "all-replicas-ready"
	EvUncordoned    = "node-uncordoned"
	EvLockReleased  = "lock-released"
	EvInterrupted   = "interrupted"
	// EvAPISilent: the lease watch was quiet and a read of the lease failed or timed out: the API
	// server is not answering, and whether the leader still renews is unknown (not expired).
	EvAPISilent = "api-silent"
	// EvAPIResumed: the API server answers again after a silence.
	EvAPIResumed = "api-resumed"
)

// Report is the JSON of `drill --report FILE` and `-o json`.
type Report struct {
	ID         string    `json:"id"`
	Kind       Kind      `json:"kind"`
	Mode       Mode      `json:"mode"`
	Zone       string    `json:"zone,omitempty"`
	Cluster    string    `json:"cluster"`
	Context    string    `json:"context"`
	Namespace  string    `json:"namespace"`
	Lease      string    `json:"lease"`
	Started    time.Time `json:"started"`
	ActionTime time.Time `json:"actionTime,omitzero"`
	Ended      time.Time `json:"ended"`
	Result     Result    `json:"result"`
	Reason     string    `json:"reason"`
	Gates      []Gate    `json:"gates"`
	Plan       Plan      `json:"plan"`
	Timeline   []Event   `json:"timeline"`
	// State is the furthest milestone reached (meaningful on timeout).
	State     string `json:"stateReached"`
	OldLeader string `json:"oldLeader,omitempty"`
	NewLeader string `json:"newLeader,omitempty"`
	Path      Path   `json:"path,omitempty"`
	// FailoverSeconds = the new holder's acquireTime (by the lease) − the action time.
	FailoverSeconds float64 `json:"failoverSeconds,omitempty"`
	// LeaderGapSeconds = the new acquireTime − the old holder's last renewTime (or release time).
	LeaderGapSeconds     float64 `json:"leaderGapSeconds,omitempty"`
	BoundSeconds         float64 `json:"boundSeconds,omitempty"`
	Bound                string  `json:"bound,omitempty"`
	LeaseDurationSeconds float64 `json:"leaseDurationSeconds"`
	// APISilenceSeconds is the longest time the API server did not answer the drill's lease
	// tracking (see EvAPISilent); 0 when it always answered.
	APISilenceSeconds       float64  `json:"apiSilenceSeconds,omitempty"`
	RetryPeriodSeconds      float64  `json:"retryPeriodSeconds"`
	ReplacementReadySeconds float64  `json:"replacementReadySeconds,omitempty"`
	Unschedulable           string   `json:"unschedulable,omitempty"`
	Explanation             []string `json:"explanation,omitempty"`
	Restored                []string `json:"restoredNodes,omitempty"`
	// Probe is the provisioning probe's measurement (--probe).
	Probe *ProbeReport `json:"probe,omitempty"`
}

// Slack added to every failover bound: watch delivery, process stop latency, clock rounding.
const DefaultSlack = time.Second

// Bound is the failover a path allows, from the lease's own duration and the election retry period:
//   - released: the old holder emptied holderIdentity; a follower takes it on its next acquire try,
//     which comes within one retry period (+ slack).
//   - expired: the old holder's last renewal was at most one retry period before the action; a
//     follower only considers the lease expired a full duration after it *observed* that renewal
//     (client-go uses its own observation time, up to a retry later) and tries again within a retry:
//     duration + 2 × retry (+ slack). With Karpenter's 15 s / 2 s that is 20 s; measured 15.6–19.5 s.
func Bound(p Path, duration, retry, slack time.Duration) (time.Duration, string) {
	switch p {
	case Released:
		return retry + slack, fmt.Sprintf("released path: retry period %s + slack %s", retry, slack)
	case Expired:
		return duration + 2*retry + slack, fmt.Sprintf("expired path: lease duration %s + 2 × retry period %s + slack %s", duration, retry, slack)
	}
	return 0, ""
}

// judgeFailover fills Path, bound and result for a drill whose leader was disrupted.
func (r *Report) judgeFailover(path Path, failover, duration, retry, slack time.Duration, mode Mode) {
	r.Path = path
	b, why := Bound(path, duration, retry, slack)
	r.BoundSeconds, r.Bound = b.Seconds(), why
	r.FailoverSeconds = failover.Seconds()
	if failover <= b {
		r.Result = Pass
		r.Reason = fmt.Sprintf("failover %.3fs ≤ %.3fs (%s)", failover.Seconds(), b.Seconds(), why)
	} else {
		r.Result = Fail
		r.Reason = fmt.Sprintf("failover %.3fs > %.3fs (%s)", failover.Seconds(), b.Seconds(), why)
	}
	switch {
	case path == Expired && mode == Evict:
		r.Explanation = append(r.Explanation, fmt.Sprintf(
			"The old leader did not release the lease on shutdown, so the follower had to wait for it to expire "+
				"(lease duration %s + up to two retry periods of %s). Karpenter v1.15.0 never releases: it sets "+
				"LeaderElectionReleaseOnCancel but runs its manager on context.Background() with no signal handler, "+
				"so SIGTERM ends the process with the lease held. Deleting or evicting the leader pod therefore costs "+
				"~15–19 s without a leader with the default 15 s / 2 s timings, not a fast handover.", duration, retry))
	case path == Expired && mode == Hard:
		r.Explanation = append(r.Explanation, fmt.Sprintf(
			"--mode hard deleted the leader with grace period 0, like a crash: nothing could release the lease, "+
				"so the follower waited for it to expire (lease duration %s + up to two retry periods of %s).", duration, retry))
	case path == Released:
		r.Explanation = append(r.Explanation, fmt.Sprintf(
			"The old leader released the lease on shutdown (holderIdentity emptied), so a follower took it on its next "+
				"retry (retry period %s) instead of waiting out the %s lease duration.", retry, duration))
	}
}

// HistoryEntry is one line of the history file.
type HistoryEntry struct {
	ID              string    `json:"id"`
	Kind            Kind      `json:"kind"`
	Mode            Mode      `json:"mode"`
	Zone            string    `json:"zone,omitempty"`
	Cluster         string    `json:"cluster"`
	Context         string    `json:"context"`
	Started         time.Time `json:"started"`
	Result          Result    `json:"result"`
	Path            Path      `json:"path,omitempty"`
	FailoverSeconds float64   `json:"failoverSeconds,omitempty"`
	// ProvisioningSeconds is the probe's "provisioning resumed after" (its NodeClaim − the action).
	ProvisioningSeconds float64 `json:"provisioningResumedSeconds,omitempty"`
	Reason              string  `json:"reason"`
}

// Entry is r's history line.
func (r *Report) Entry() HistoryEntry {
	e := HistoryEntry{ID: r.ID, Kind: r.Kind, Mode: r.Mode, Zone: r.Zone, Cluster: r.Cluster, Context: r.Context,
		Started: r.Started, Result: r.Result, Path: r.Path, FailoverSeconds: r.FailoverSeconds, Reason: r.Reason}
	if r.Probe != nil {
		e.ProvisioningSeconds = r.Probe.NodeClaimSeconds
	}
	return e
}

// HistoryPath is $XDG_STATE_HOME/karpctl/drills.jsonl, default ~/.local/state/karpctl/drills.jsonl.
func HistoryPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the history file: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "karpctl", "drills.jsonl"), nil
}

// AppendHistory appends one JSON line to path (created with its folder).
func AppendHistory(path string, e HistoryEntry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening history %s: %w", path, err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("writing history %s: %w", path, err)
	}
	return f.Close()
}

// ReadHistory reads every entry; a missing file is an empty history. Unparsable lines are skipped
// and counted.
func ReadHistory(path string) ([]HistoryEntry, int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading history %s: %w", path, err)
	}
	defer f.Close()
	var out []HistoryEntry
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e HistoryEntry
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			bad++
			continue
		}
		out = append(out, e)
	}
	return out, bad, sc.Err()
}

// History is the history file with its trends: `drill history -o json|yaml`.
type History struct {
	File   string         `json:"file"`
	Trends []Trend        `json:"trends"`
	Drills []HistoryEntry `json:"drills"`
}

// LoadHistory reads the history file at path and sums up its trends; bad counts the unreadable lines
// it skipped.
func LoadHistory(path string) (h History, bad int, err error) {
	es, bad, err := ReadHistory(path)
	if err != nil {
		return History{}, 0, err
	}
	return History{File: path, Trends: Trends(es), Drills: es}, bad, nil
}

// Trend summarises the drills of one cluster/context and kind.
type Trend struct {
	Cluster    string  `json:"cluster"`
	Context    string  `json:"context"`
	Kind       Kind    `json:"kind"`
	Count      int     `json:"count"`
	Passed     int     `json:"passed"`
	Failed     int     `json:"failed"`
	P50Seconds float64 `json:"failoverP50Seconds"`
	MaxSeconds float64 `json:"failoverMaxSeconds"`
	// Provisioning resumed (drills with --probe): how many recorded it, p50 and max.
	Probes                 int     `json:"probes"`
	ProvisioningP50Seconds float64 `json:"provisioningResumedP50Seconds"`
	ProvisioningMaxSeconds float64 `json:"provisioningResumedMaxSeconds"`
	Last                   string  `json:"last"`
}

// Trends groups entries by cluster, context and kind (refusals and dry runs are counted but carry no
// failover), sorted.
func Trends(es []HistoryEntry) []Trend {
	type key struct {
		cluster, context string
		kind             Kind
	}
	idx := map[key]*Trend{}
	fo, prov := map[key][]time.Duration{}, map[key][]time.Duration{}
	var keys []key
	for _, e := range es {
		k := key{e.Cluster, e.Context, e.Kind}
		t := idx[k]
		if t == nil {
			t = &Trend{Cluster: e.Cluster, Context: e.Context, Kind: e.Kind}
			idx[k] = t
			keys = append(keys, k)
		}
		t.Count++
		switch e.Result {
		case Pass:
			t.Passed++
		case Fail:
			t.Failed++
		}
		if e.FailoverSeconds > 0 {
			fo[k] = append(fo[k], fromSeconds(e.FailoverSeconds))
		}
		if e.ProvisioningSeconds > 0 {
			prov[k] = append(prov[k], fromSeconds(e.ProvisioningSeconds))
		}
		t.Last = fmt.Sprintf("%s %s", e.Started.Format(time.RFC3339), e.Result)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.cluster != b.cluster {
			return a.cluster < b.cluster
		}
		if a.context != b.context {
			return a.context < b.context
		}
		return a.kind < b.kind
	})
	out := make([]Trend, 0, len(keys))
	for _, k := range keys {
		t := idx[k]
		t.P50Seconds = lease.Percentile(fo[k], 50).Seconds()
		t.MaxSeconds = lease.Percentile(fo[k], 100).Seconds()
		t.Probes = len(prov[k])
		t.ProvisioningP50Seconds = lease.Percentile(prov[k], 50).Seconds()
		t.ProvisioningMaxSeconds = lease.Percentile(prov[k], 100).Seconds()
		out = append(out, *t)
	}
	return out
}
