package view

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/units"

	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/topology"
)

func plain() (*bytes.Buffer, output.Styles) {
	var b bytes.Buffer
	return &b, output.StylesFor(&b)
}

func TestLeaseStatusPlain(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	renew := now.Add(-1200 * time.Millisecond)
	st := lease.Status{
		Namespace: "karpenter", Name: "karpenter-leader-election", Verdict: lease.Healthy, Reason: "kp-a renewed 1.2s ago",
		HolderIdentity: "kp-a_u", Holder: &lease.Holder{Pod: "kp-a", Hostname: "kp-a", Node: "n-a", Zone: "z-a"},
		RenewTime: &renew, AcquireTime: &renew, LeaseDuration: units.Seconds(15 * time.Second), ObservedAt: now, Transitions: 4,
		Candidates: []lease.Candidate{
			{Pod: "kp-a", Role: "leader", Phase: "Running", Ready: true, Node: "n-a", Zone: "z-a", Created: now.Add(-3 * time.Hour)},
			{Pod: "kp-b", Role: "follower", Phase: "Running", Ready: true, Node: "n-b", Created: now.Add(-90 * time.Second), Deleting: true},
		},
	}
	b, s := plain()
	if err := LeaseStatus(b, s, st, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Lease:        karpenter/karpenter-leader-election",
		"Leader:       pod kp-a on node n-a, zone z-a",
		"Renewed:      2026-11-27T08:59:58.8Z (1.2s ago)",
		"Duration:     15s (stale after 10s without renewal)",
		"Transitions:  4",
		"kp-a   leader     Running       true    0          n-a    z-a      3h    2026-11-27T06:00:00Z",
		"kp-b   follower   Terminating   true    0          n-b    <none>   90s",
		"normal standby",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("ANSI codes in plain output")
	}
}

func TestHealthWideShowsReplicaMetrics(t *testing.T) {
	one := 1.0
	r := health.Report{Namespace: "karpenter", Deployment: "karpenter", Lease: "karpenter/l", Verdict: health.OK,
		Checks:  []health.Check{{Name: "deployment", Status: health.OK, Message: "2/2"}},
		Metrics: map[string]health.ReplicaMetrics{"kp-a": {LeaderStatus: &one, Requests: map[string]float64{"200": 20, "429": 1}, Total: 21, Non2xx: 1, Throttled: 1, Errors: 1, LatencyMeanSec: 0.0044, LatencyP99Sec: 0.0256}},
	}
	b, s := plain()
	if err := HealthReport(b, s, r, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "REPLICA") {
		t.Fatal("metrics table without -o wide")
	}
	b, s = plain()
	if err := HealthReport(b, s, r, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "kp-a      1               21         200:20 429:1   4.8%") || !strings.Contains(b.String(), "25.6ms") {
		t.Fatalf("wide:\n%s", b.String())
	}
}

// A long-running replica's counters pass a million: they stay whole numbers, never 1.234567e+06.
func TestHealthWideLargeCounters(t *testing.T) {
	r := health.Report{Namespace: "karpenter", Deployment: "karpenter", Lease: "karpenter/l", Verdict: health.OK,
		Metrics: map[string]health.ReplicaMetrics{"kp-a": {Requests: map[string]float64{"200": 1234567, "500": 2000000}, Total: 3234567, Non2xx: 2000000, Errors: 2000000, Throttled: 1000000}},
	}
	b, s := plain()
	if err := HealthReport(b, s, r, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "e+0") || !strings.Contains(b.String(), "3234567") || !strings.Contains(b.String(), "200:1234567 500:2000000") || !strings.Contains(b.String(), "1000000") {
		t.Fatalf("wide:\n%s", b.String())
	}
}

func TestAuditWideShowsPendingReason(t *testing.T) {
	r := topology.Report{Mode: "live", Profile: "basic", Namespace: "karpenter", Name: "karpenter",
		Placements: []topology.Placement{{Pod: "kp-c", Role: "pending", Phase: "Pending", PendingReason: "0/3 nodes are available"}},
		Findings:   []topology.Finding{{ID: "replicas-pending", Severity: topology.Error, Message: "1 pending", Remediation: "add a node", Object: "Pod karpenter/kp-c"}},
		FailOn:     topology.Error,
	}
	b, s := plain()
	if err := AuditReport(b, s, r, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PENDING-REASON", "0/3 nodes are available", "object: Pod karpenter/kp-c", "exit 3 with --fail-on error"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

// A silence prints the exact words, and the reconciled sequence after it says what the lease
// shows: not renewed meanwhile, then the expiry marked as inside the silence.
func TestLeaseEventSilence(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	renew := at.Add(-20 * time.Second)
	no := false
	b, s := plain()
	for _, e := range []lease.Event{
		{Kind: lease.EventSilent, Time: at, From: "kp-a_u", Silence: units.Seconds(10200 * time.Millisecond)},
		{Kind: lease.EventResumed, Time: at.Add(10 * time.Second), To: "kp-a_u", Silence: units.Seconds(20 * time.Second), RenewedDuringSilence: &no, LastRenewTime: &renew},
		{Kind: lease.EventExpired, Time: renew.Add(15 * time.Second), From: "kp-a_u", DuringSilence: true},
		{Kind: lease.EventAcquired, Time: at.Add(10 * time.Second), From: "kp-a_u", To: "kp-b_v", Gap: units.Seconds(20 * time.Second), DuringSilence: true},
	} {
		LeaseEvent(b, s, e, false)
	}
	for _, want := range []string{
		"09:00:00.000  API SERVER SILENT for 10s (watch stalled; cannot tell whether the leader renews)",
		"09:00:10.000  API SERVER ANSWERS after 20s without news; the lease was not renewed meanwhile (last renewTime 08:59:40.000, before the silence)",
		"08:59:55.000  EXPIRED kp-a_u's lease expired while the API server was silent",
		"HOLDER CHANGED kp-a_u -> kp-b_v, 20s without a leader (transitions 0) (while the API server was silent)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "stopped renewing") {
		t.Errorf("a silence is reported as the holder stopping:\n%s", b.String())
	}
}

// The summary line's exit code follows the report's own --fail-on policy.
func TestAuditSummaryFollowsFailOn(t *testing.T) {
	warn := []topology.Finding{{ID: "w", Severity: topology.Warning, Message: "m", Object: "Deployment karpenter/karpenter"}}
	for _, c := range []struct {
		failOn topology.Severity
		want   string
	}{{topology.Error, "exit 0 with --fail-on error"}, {topology.Warning, "exit 3 with --fail-on warning"}, {"", "exit 0 with --fail-on never"}} {
		b, s := plain()
		r := topology.Report{Mode: "live", Profile: "basic", Namespace: "karpenter", Name: "karpenter", Findings: warn, FailOn: c.failOn}
		if err := AuditReport(b, s, r, false); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("--fail-on %q: want %q in\n%s", c.failOn, c.want, b.String())
		}
	}
}
