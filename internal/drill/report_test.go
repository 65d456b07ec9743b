package drill

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBoundsFromLeaseTimings(t *testing.T) {
	// Karpenter's 15 s / 2 s: released ≈ 3 s, expired ≈ 20 s (measured 15.6–19.5 s).
	if b, _ := Bound(Released, 15*time.Second, 2*time.Second, time.Second); b != 3*time.Second {
		t.Fatal(b)
	}
	if b, _ := Bound(Expired, 15*time.Second, 2*time.Second, time.Second); b != 20*time.Second {
		t.Fatal(b)
	}
}

func TestJudgeExplainsNoRelease(t *testing.T) {
	var r Report
	r.judgeFailover(Expired, 17*time.Second, 15*time.Second, 2*time.Second, time.Second, Evict)
	if r.Result != Pass || !strings.Contains(r.Explanation[0], "did not release the lease on shutdown") || !strings.Contains(r.Explanation[0], "v1.15.0 never releases") {
		t.Fatalf("%+v", r)
	}
	var slow Report
	slow.judgeFailover(Released, 4*time.Second, 15*time.Second, 2*time.Second, time.Second, Evict)
	if slow.Result != Fail || !strings.Contains(slow.Reason, "4.000s > 3.000s") {
		t.Fatalf("%+v", slow)
	}
}

func TestHistoryTrends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "karpctl", "drills.jsonl")
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	for i, fo := range []float64{16.1, 17.5, 0, 15.9} {
		res := Pass
		if fo == 0 {
			res = Refused
		}
		if err := AppendHistory(path, HistoryEntry{ID: "d", Kind: LeaderKill, Cluster: "https://c", Context: "prod", Started: t0.Add(time.Duration(i) * time.Hour), Result: res, FailoverSeconds: fo}); err != nil {
			t.Fatal(err)
		}
	}
	_ = AppendHistory(path, HistoryEntry{Kind: ZoneOutage, Cluster: "https://c", Context: "prod", Result: Fail})
	es, bad, err := ReadHistory(path)
	if err != nil || bad != 0 || len(es) != 5 {
		t.Fatal(es, bad, err)
	}
	tr := Trends(es)
	if len(tr) != 2 || tr[0].Kind != LeaderKill || tr[0].Count != 4 || tr[0].Passed != 3 || tr[0].P50Seconds != 16.1 || tr[0].MaxSeconds != 17.5 || tr[1].Failed != 1 {
		t.Fatalf("%+v", tr)
	}
	if es, _, err := ReadHistory(filepath.Join(t.TempDir(), "none")); err != nil || es != nil {
		t.Fatal("a missing history is empty")
	}
}

func TestCordonPatches(t *testing.T) {
	if p := string(cordonPatch("drill-1")); !strings.Contains(p, `"unschedulable":true`) || !strings.Contains(p, `"karpctl.io/drill-cordoned":"drill-1"`) {
		t.Fatal(p)
	}
	if p := string(uncordonPatch); !strings.Contains(p, `"unschedulable":null`) || !strings.Contains(p, `"karpctl.io/drill-cordoned":null`) {
		t.Fatal(p)
	}
}

// A drill refused or only planned never acted: its report has no actionTime (not 0001-01-01).
func TestReportOmitsActionTimeBeforeTheAction(t *testing.T) {
	b, err := json.Marshal(Report{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "actionTime") {
		t.Errorf("actionTime in %s", b)
	}
	b, _ = json.Marshal(Report{ActionTime: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if !strings.Contains(string(b), `"actionTime":"2026-12-01T00:00:00Z"`) {
		t.Errorf("no actionTime in %s", b)
	}
}
