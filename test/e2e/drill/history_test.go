package drill

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// The history lists every drill recorded in its file, refusals included, with failover trends per
// context and kind. The test keeps a state directory of its own, so that the drills of the other
// tests, run in any order, do not count.
func TestHistory(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	const ns = "history"
	karpenter(ctx, t, ns, 2, true, false)
	report := filepath.Join(t.TempDir(), "r.json")
	if r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report); r.Code != 0 {
		t.Fatalf("drill: exit %d: %s", r.Code, r.Stderr)
	}
	passed := readReport(t, report)
	// Refused: the cluster has no NodePool for a probe.
	if r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--probe"); r.Code != 3 {
		t.Fatalf("refused drill: exit %d: %s", r.Code, r.Stderr)
	}

	r := e2e.Karpctl(ctx, t, "", "drill", "history", "-o", "json")
	var h drill.History
	r.Decode(t, &h)
	if r.Code != 0 || len(h.Drills) != 2 || h.Drills[0].ID != passed.ID || h.Drills[0].Result != drill.Pass || h.Drills[0].Path != drill.Released ||
		h.Drills[0].FailoverSeconds != passed.FailoverSeconds || h.Drills[1].Result != drill.Refused {
		t.Fatalf("exit %d, history %+v", r.Code, h)
	}
	if len(h.Trends) != 1 {
		t.Fatalf("trends %+v", h.Trends)
	}
	if tr := h.Trends[0]; tr.Context != "harness" || tr.Kind != drill.LeaderKill || tr.Count != 2 || tr.Passed != 1 || tr.Failed != 0 || math.Abs(tr.P50Seconds-passed.FailoverSeconds) > 1e-6 {
		t.Fatalf("trend %+v, failover %.9fs", tr, passed.FailoverSeconds)
	}
	r = e2e.Karpctl(ctx, t, "", "drill", "history")
	for _, w := range []string{"FAILOVER P50", "FAILOVER MAX", "leader-kill", "REFUSED", "released", passed.ID} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("history lacks %q", w)
		}
	}
}
