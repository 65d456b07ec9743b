package fleet

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/versions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/internal/topology/sariftest"
	"github.com/karpctl/karpctl/internal/view"
	"github.com/karpctl/karpctl/test/e2e"
)

// acrossThree runs `karpctl COMMAND --contexts healthy,stale,closed ARGS` and checks the acceptance
// fleet's exit (3, the stale cluster's) and its one line on stderr.
func acrossThree(ctx context.Context, t *testing.T, f fixture, command string, args ...string) e2e.Result {
	t.Helper()
	r := karpctl(ctx, t, f, append([]string{command, "--contexts", three}, args...)...)
	if r.Code != cli.ExitUnhealthy {
		t.Fatalf("exit %d, want 3 (the worst: stale)", r.Code)
	}
	oneErrorLine(t, r, command+": 2 of 3 clusters not OK: stale (unhealthy), closed (unreachable)")
	return r
}

// checkClosed: the closed context is an error outcome with exit 1, answered well within its own
// --request-timeout (10 s: a refused connection fails at once).
func checkClosed[T any](t *testing.T, o fleet.Outcome[T]) {
	t.Helper()
	if o.Context != "closed" || o.Result != nil || o.ExitCode != cli.ExitAPI || !strings.Contains(o.Error, "connection refused") {
		t.Errorf("closed: %+v", o)
	}
	if o.Duration <= 0 || o.Duration.Duration() > 10*time.Second {
		t.Errorf("closed took %s, more than its --request-timeout 10s", o.Duration)
	}
}

func TestLeaseAcrossContexts(t *testing.T) {
	f := setup(t)
	ctx := e2e.Context(t, 2*time.Minute)
	r := acrossThree(ctx, t, f, "lease")
	for _, tc := range []struct{ context, want string }{
		{"healthy", `^healthy\s+Healthy\s+` + f.leader + `\s+sys-a\s+zone-a\s+[\d.]+m?s ago\s+0$`},
		{"stale", `^stale\s+Stale\s+` + f.staleOwner + `\s+a1\s+zone-a\s+5\dm[\d.]+s ago\s+3$`},
		{"closed", `^closed\s+ERROR\s+listing Deployments .*connection refused$`},
	} {
		if l := row(t, r.Stdout, tc.context); !regexp.MustCompile(tc.want).MatchString(l) {
			t.Errorf("%s row %q does not match %s", tc.context, l, tc.want)
		}
	}
	if !strings.Contains(r.Stdout, "\n3 clusters: 1 healthy, 1 unhealthy, 1 unreachable\n") {
		t.Errorf("no summary line:\n%s", r.Stdout)
	}
	per := sameCostAsSingle(ctx, t, f, r, "lease")
	if n := len(per["healthy"]); n > 5 { // the lease command's budget (test/e2e/lease)
		t.Errorf("healthy: %d requests, over lease's 5", n)
	}

	r = karpctl(ctx, t, f, "lease", "--contexts", three, "-o", "json")
	var outs []fleet.Outcome[lease.Status]
	r.Decode(t, &outs)
	if r.Code != cli.ExitUnhealthy || len(outs) != 3 {
		t.Fatalf("exit %d, %d entries", r.Code, len(outs))
	}
	if h := outs[0]; h.Context != "healthy" || h.ExitCode != 0 || h.Result.Verdict != lease.Healthy || h.Result.Holder.Pod != f.leader || len(h.Result.Candidates) != 2 {
		t.Errorf("healthy: %+v", h)
	}
	if s := outs[1]; s.Context != "stale" || s.ExitCode != cli.ExitUnhealthy || s.Result.Verdict != lease.Stale || s.Result.Transitions != 3 || s.Result.Holder.Zone != "zone-a" {
		t.Errorf("stale: %+v", s)
	}
	checkClosed(t, outs[2])

	r = karpctl(ctx, t, f, "lease", "--contexts", "healthy", "-o", "wide")
	if r.Code != 0 || !strings.Contains(r.Stdout, "karpenter/karpenter-leader-election   2          2/2     15s") || !strings.Contains(r.Stdout, "1 cluster: 1 healthy, 0 unhealthy, 0 unreachable") {
		t.Errorf("wide, exit %d:\n%s", r.Code, r.Stdout)
	}
}

func TestHealthAcrossContexts(t *testing.T) {
	f := setup(t)
	ctx := e2e.Context(t, 2*time.Minute)
	r := acrossThree(ctx, t, f, "health")
	if l := row(t, r.Stdout, "healthy"); !regexp.MustCompile(`^healthy\s+OK\s+\d+\s+0\s+0\s+\d+\s+-$`).MatchString(l) {
		t.Errorf("healthy row %q", l)
	}
	if l := row(t, r.Stdout, "stale"); !strings.Contains(l, "FAIL ") || !strings.Contains(l, "lease-renewal: lease karpenter/karpenter-leader-election is Stale") {
		t.Errorf("stale row %q", l)
	}
	if l := row(t, r.Stdout, "closed"); !strings.Contains(l, "ERROR ") {
		t.Errorf("closed row %q", l)
	}
	sameCostAsSingle(ctx, t, f, r, "health")

	r = karpctl(ctx, t, f, "health", "--contexts", three, "-o", "yaml")
	if r.Code != cli.ExitUnhealthy || !strings.Contains(r.Stdout, "- context: healthy\n") || !strings.Contains(r.Stdout, "  result:\n    checks:\n") {
		t.Fatalf("yaml, exit %d:\n%s", r.Code, r.Stdout)
	}
	r = karpctl(ctx, t, f, "health", "--contexts", three, "-o", "json")
	var outs []fleet.Outcome[health.Report]
	r.Decode(t, &outs)
	if outs[0].Result.Verdict != health.OK || outs[0].ExitCode != 0 || outs[1].Result.Verdict != health.Fail || view.FirstCheck(*outs[1].Result, health.Fail) == "" {
		t.Errorf("verdicts: %+v / %+v", outs[0], outs[1])
	}
	checkClosed(t, outs[2])
}

func TestAuditAcrossContexts(t *testing.T) {
	f := setup(t)
	ctx := e2e.Context(t, 2*time.Minute)
	// The stale cluster's findings are warnings (one zone, no PDB): unhealthy with --fail-on warning.
	r := acrossThree(ctx, t, f, "audit-topology", "--fail-on", "warning")
	if l := row(t, r.Stdout, "healthy"); !strings.Contains(l, "2 (zone-a, zone-b)   failover") {
		t.Errorf("healthy row %q", l)
	}
	if l := row(t, r.Stdout, "stale"); !strings.Contains(l, "WARN      0        2 ") || !strings.Contains(l, "1 (zone-a)           outage") {
		t.Errorf("stale row %q", l)
	}
	per := sameCostAsSingle(ctx, t, f, r, "audit-topology", "--fail-on", "warning")
	if n := len(per["stale"]); n != 6 { // audit-topology's fixed cost (test/e2e/audit)
		t.Errorf("stale: %d requests, want 6: %v", n, per["stale"])
	}

	// The result inside is the single-cluster report, byte for byte (the stale cluster holds still).
	r = karpctl(ctx, t, f, "audit-topology", "--contexts", three, "-o", "json", "--fail-on", "warning")
	var outs []fleet.Outcome[json.RawMessage]
	r.Decode(t, &outs)
	single := karpctl(ctx, t, f, "audit-topology", "--context", "stale", "-o", "json", "--fail-on", "warning")
	var compact, inside strings.Builder
	_ = json.NewEncoder(&compact).Encode(json.RawMessage(single.Stdout))
	_ = json.NewEncoder(&inside).Encode(*outs[1].Result)
	if single.Code != cli.ExitUnhealthy || compact.String() != inside.String() {
		t.Errorf("fleet result differs from the single-cluster report:\n%s\n%s", inside.String(), compact.String())
	}

	r = karpctl(ctx, t, f, "audit-topology", "--contexts", three, "-o", "sarif", "--fail-on", "warning")
	if err := sariftest.Validate([]byte(r.Stdout)); err != nil || r.Code != cli.ExitUnhealthy {
		t.Fatalf("exit %d, SARIF: %v", r.Code, err)
	}
	var log topology.SARIFLog
	r.Decode(t, &log)
	byContext := map[any]int{}
	for _, res := range log.Runs[0].Results {
		byContext[res.Properties["context"]]++
	}
	if len(log.Runs) != 1 || byContext["stale"] == 0 || len(byContext) > 2 || byContext[nil] != 0 {
		t.Errorf("SARIF results by context %v", byContext)
	}
	contexts, _ := log.Runs[0].Properties["contexts"].([]any)
	if len(contexts) != 3 || !strings.Contains(contexts[2].(map[string]any)["error"].(string), "connection refused") {
		t.Errorf("SARIF run properties %v", log.Runs[0].Properties)
	}
}

func TestVersionAcrossContexts(t *testing.T) {
	f := setup(t)
	ctx := e2e.Context(t, time.Minute)
	r := karpctl(ctx, t, f, "version", "--contexts", three)
	if r.Code != cli.ExitAPI { // no verdict is bad: the worst is the unreachable cluster
		t.Fatalf("exit %d, want 1", r.Code)
	}
	oneErrorLine(t, r, "version: 1 of 3 clusters not OK: closed (unreachable)")
	bundled := cli.EngineVersion()
	if l := row(t, r.Stdout, "healthy"); !strings.Contains(l, "v1.36.3   1.15.0      matches "+bundled) {
		t.Errorf("healthy row %q", l)
	}
	if l := row(t, r.Stdout, "stale"); !strings.Contains(l, "v1.36.3   1.14.2      differs (bundled "+bundled+")") {
		t.Errorf("stale row %q", l)
	}
	if !strings.Contains(r.Stdout, "3 clusters: 2 answered, 0 unhealthy, 1 unreachable") {
		t.Errorf("summary:\n%s", r.Stdout)
	}
	sameCostAsSingle(ctx, t, f, r, "version")

	r = karpctl(ctx, t, f, "version", "--contexts", three, "-o", "json")
	var outs []fleet.Outcome[versions.Info]
	r.Decode(t, &outs)
	if outs[0].Result.KarpenterVersion != "1.15.0" || outs[1].Result.KarpenterVersion != "1.14.2" || outs[1].Result.Server != "v1.36.3" {
		t.Errorf("%+v %+v", outs[0].Result, outs[1].Result)
	}
	checkClosed(t, outs[2])
}

// --context-selector picks from every context, sorted by name; --all-contexts takes them all.
func TestContextSelector(t *testing.T) {
	f := setup(t)
	ctx := e2e.Context(t, time.Minute)
	r := karpctl(ctx, t, f, "lease", "--context-selector", "^(stale|healthy)$", "-o", "json")
	var outs []fleet.Outcome[lease.Status]
	r.Decode(t, &outs)
	if r.Code != cli.ExitUnhealthy || len(outs) != 2 || outs[0].Context != "healthy" || outs[1].Context != "stale" {
		t.Fatalf("exit %d: %+v", r.Code, outs)
	}
	r = karpctl(ctx, t, f, "version", "--all-contexts", "--parallel", "1")
	if r.Code != cli.ExitAPI || strings.Index(r.Stdout, "\nclosed ") > strings.Index(r.Stdout, "\nhealthy ") {
		t.Fatalf("exit %d, not sorted:\n%s", r.Code, r.Stdout)
	}
	r = karpctl(ctx, t, f, "lease", "--contexts", "healthy,prod")
	if r.Code != cli.ExitUsage || len(r.Requests) != 0 || r.Stderr != "error: --contexts: no context \"prod\" in the kubeconfig; known contexts: closed, healthy, stale\n" {
		t.Fatalf("unknown context: exit %d, %d requests, %q", r.Code, len(r.Requests), r.Stderr)
	}
}
