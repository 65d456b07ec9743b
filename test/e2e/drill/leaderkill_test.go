package drill

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// Acceptance 2: the simulator releases on SIGTERM: eviction → path released, failover within the
// retry period + 1 s, the timeline complete, the replacement Running.
func TestLeaderKillReleased(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-released"
	karpenter(ctx, t, ns, 2, true, false)
	oldID, oldPod := holder(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Released || rep.OldLeader != oldPod || rep.NewLeader == oldID {
		t.Fatalf("report %+v", rep)
	}
	if rep.FailoverSeconds <= 0 || rep.FailoverSeconds > 0.25+1 {
		t.Fatalf("failover %.3fs, want ≤ retry 250ms + 1s", rep.FailoverSeconds)
	}
	requireKinds(t, rep, drill.EvLock, drill.EvEvicted, drill.EvTerminating, drill.EvReleased, drill.EvAcquired, drill.EvScheduled, drill.EvReady, drill.EvAllReady, drill.EvLockReleased)
	checkFailoverAgainstLease(ctx, t, ns, rep)
	lockGone(ctx, t, ns)
	for _, w := range []string{"PASS", "Path:", "released", "Failover:"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	// The replacement pod is Running.
	pods, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	running := 0
	for _, p := range pods.Items {
		if p.Name == oldPod {
			continue
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running++
		}
	}
	if running != 2 {
		t.Fatalf("%d Running pods besides the old leader", running)
	}
	t.Logf("released path: failover %.3fs, leader gap %.3fs", rep.FailoverSeconds, rep.LeaderGapSeconds)
}

// Acceptance 2: --mode hard deletes with grace 0 (the simulator is SIGKILLed): path expired, within
// lease duration + 2 × retry + slack, the report explains.
func TestLeaderKillHard(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-hard"
	karpenter(ctx, t, ns, 2, true, false)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--mode", "hard", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Expired || rep.FailoverSeconds > 2+0.5+1 || rep.FailoverSeconds < 0.5 {
		t.Fatalf("report %+v", rep)
	}
	requireKinds(t, rep, drill.EvDeleted, drill.EvExpired, drill.EvAcquired, drill.EvReady, drill.EvAllReady)
	if len(rep.Explanation) == 0 || !strings.Contains(rep.Explanation[0], "grace period 0") {
		t.Fatalf("explanation %q", rep.Explanation)
	}
	checkFailoverAgainstLease(ctx, t, ns, rep)
	lockGone(ctx, t, ns)
	if e := recorded(t, rep.ID); e.Result != drill.Pass || e.Path != drill.Expired || e.FailoverSeconds != rep.FailoverSeconds || e.Mode != drill.Hard {
		t.Fatalf("history %+v", e)
	}
	t.Logf("hard path: failover %.3fs, leader gap %.3fs", rep.FailoverSeconds, rep.LeaderGapSeconds)
}

// Acceptance 2 (the v1.15.0 behaviour on the simulator): replicas that never release → an eviction
// takes the expired path and the report says the controller did not release on shutdown.
func TestLeaderKillNoRelease(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-norelease"
	karpenter(ctx, t, ns, 2, true, true)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Expired {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Explanation) == 0 || !strings.Contains(rep.Explanation[0], "did not release the lease on shutdown") || !strings.Contains(r.Stdout, "Karpenter v1.15.0 never releases") {
		t.Fatalf("explanation %q", rep.Explanation)
	}
	checkFailoverAgainstLease(ctx, t, ns, rep)
}

// On a terminal the drill asks before acting: "no" refuses with the cluster unchanged (exit 2), Ctrl-C
// at the prompt answers no at once (it used to wait for Enter), "yes" runs it. Each runs on a
// pseudo-terminal of its own, and each answer is typed only once the prompt shows (a ^C typed earlier
// would interrupt the preflight instead).
func TestConfirmationOnTerminal(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-tty"
	karpenter(ctx, t, ns, 2, true, false)
	args := []string{"drill", "leader-kill", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--kubeconfig", env.Kubeconfig}
	answer := func(keys string) (int, string) {
		t.Helper()
		tm := startOnTerminal(ctx, t, args...)
		tm.WaitFor(ctx, t, "Proceed with the drill?")
		tm.Type(t, keys)
		return tm.Exit(t, 90*time.Second)
	}
	before := snapshot(ctx, t, ns)
	if code, out := answer("no\r"); code != 2 || !strings.Contains(out, "not confirmed; nothing was changed") {
		t.Fatalf("answer no: exit %d\n%s", code, out)
	}
	e2e.Unchanged(t, before, snapshot(ctx, t, ns))

	if code, out := answer("\x03"); code != 2 || !strings.Contains(out, "not confirmed; nothing was changed") {
		t.Fatalf("Ctrl-C at the prompt: exit %d\n%s", code, out)
	}
	e2e.Unchanged(t, before, snapshot(ctx, t, ns))

	if code, out := answer("yes\r"); code != 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("answer yes: exit %d\n%s", code, out)
	}
	lockGone(ctx, t, ns)
}

// A lock left by a drill that died (older than --timeout) refuses the next drill, naming it; --force
// takes it over, and the drill deletes it at the end as its own.
func TestStaleLockNeedsForce(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-stale"
	karpenter(ctx, t, ns, 2, true, false)
	const holder = "drill-20261127-000000-dead00"
	lockLease(ctx, t, ns, holder, time.Now().Add(-10*time.Minute))
	args := []string{"drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s"}
	before := snapshot(ctx, t, ns)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, args...)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "stale lock") || !strings.Contains(r.Stdout+r.Stderr, holder) {
		t.Fatalf("without --force: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	e2e.Unchanged(t, before, snapshot(ctx, t, ns))
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, append(args, "--force")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "PASS") {
		t.Fatalf("with --force: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	lockGone(ctx, t, ns)
}
