// The leader-kill drill against the real Karpenter v1.15.0 controller (kwok build, 2 replicas, real
// leader election) in the sandbox: Deployments recreate pods, and the sandbox's pod runner ends a
// replica's process when its pod is deleted. v1.15.0 never releases its lease on shutdown, so the
// drill must take the expired path (~15–19 s) and say why. (health against the same sandbox is
// test/e2e/sandbox's TestHealthAgainstRealKarpenter.)
package realkarpenter

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var sb *sandbox.Sandbox

// karpctlEnv makes the test binary karpctl itself (commands.Main), for the tests that SIGKILL it.
const karpctlEnv = "KARPCTL_E2E_RUN_KARPCTL"

func TestMain(m *testing.M) {
	if os.Getenv(karpctlEnv) != "" {
		os.Exit(commands.Main(append([]string{"kubectl-karpctl"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "karpctl-drill-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := sandbox.Main(m, sandbox.Options{}, &sb)
	os.RemoveAll(dir)
	os.Exit(code)
}

// runDrill runs `drill ARGS --report FILE` against the sandbox and returns the report it wrote.
func runDrill(ctx context.Context, t *testing.T, args ...string) (drill.Report, e2e.Result) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), append(append([]string{"drill"}, args...), "--report", report)...)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("exit %d, no report: %v\n%s", r.Code, err, r.Stderr)
	}
	var d drill.Report
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d, r
}

func TestRealKarpenterLeaderKill(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	if _, err := sb.WaitForReplicas(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	d, r := runDrill(ctx, t, "leader-kill", "--yes")
	if r.Code != 0 || d.Result != drill.Pass || d.Path != drill.Expired {
		t.Fatalf("exit %d: %s %s %s", r.Code, d.Result, d.Path, d.Reason)
	}
	if d.FailoverSeconds < 13 || d.FailoverSeconds > 20 {
		t.Fatalf("failover %.3fs, want ≈ 15–19 s", d.FailoverSeconds)
	}
	if len(d.Explanation) == 0 || !strings.Contains(d.Explanation[0], "Karpenter v1.15.0 never releases") {
		t.Fatalf("explanation %q", d.Explanation)
	}
	t.Logf("real Karpenter v1.15.0: failover %.3fs (leader gap %.3fs), path %s", d.FailoverSeconds, d.LeaderGapSeconds, d.Path)
}
