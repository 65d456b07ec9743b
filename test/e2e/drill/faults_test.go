package drill

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// Both drills through a failing API server (harness.FaultProxy), each fault at two points: the
// request in the middle of the drill's reads before it changes anything, and the first request after
// its first change besides the lock (zone-outage's first cordon, leader-kill's eviction). The drill
// either completes as it does without the fault, or fails with exit 1 or 3 naming what failed; either
// way every node it cordoned is uncordoned and its lock is gone.
func TestDrillsThroughFaults(t *testing.T) {
	harness.Need(t, env)
	proxy, err := env.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	faultRows = nil
	defer writeFaultTable(t)
	for _, kind := range []string{"leader-kill", "zone-outage"} {
		t.Run(kind, func(t *testing.T) {
			ctx := e2e.Context(t, 15*time.Minute)
			run := func(ns string) e2e.Result {
				zone, _ := zoneSetup(ctx, t, ns)
				args := []string{"drill", kind}
				if kind == "zone-outage" {
					args = append(args, zone)
				}
				return e2e.Karpctl(ctx, t, proxy.Kubeconfig, append(args, "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms",
					"--timeout", "60s", "--request-timeout", "3s")...)
			}
			proxy.Inject("", 0, 0)
			base := run(fmt.Sprintf("df-%s-base", kind))
			if base.Code != 0 {
				t.Fatalf("without a fault: exit %d: %s", base.Code, base.Stderr)
			}
			action := firstChange(base.Requests)
			if action < 0 {
				t.Fatalf("the drill changed nothing besides its lock: %v", base.Requests)
			}
			points := map[string]int{"before the action": max(1, action/2), "after the action": action + 2}
			t.Logf("requests without a fault: %d; the action is request %d: %s", len(base.Requests), action+1, base.Requests[action])
			for i, f := range harness.Faults {
				for j, point := range []string{"before the action", "after the action"} {
					t.Run(string(f)+"/"+point, func(t *testing.T) {
						ns := fmt.Sprintf("df-%s-%d-%d", kind, i, j)
						at := points[point]
						if f == harness.ExpiredContinue {
							at = 1
						}
						proxy.Inject(f, at, 1)
						start := time.Now()
						r := run(ns)
						took := time.Since(start)
						hits := proxy.Hits()
						proxy.Inject("", 0, 0)
						outcome := "same answer"
						switch {
						case len(hits) == 0:
							outcome = "not hit"
						case strings.Contains(r.Stderr, "panic"):
							t.Errorf("panic: %s", r.Stderr)
						case r.Code != 0 && r.Code != 1 && r.Code != 3:
							t.Errorf("exit %d: %s", r.Code, r.Stderr)
						case r.Code != 0:
							outcome = fmt.Sprintf("exit %d: %s", r.Code, firstLine(r.Stderr+r.Stdout))
						}
						t.Logf("%s hit by %s %s at %v: %s (%s)", kind, f, point, hits, outcome, took.Round(time.Millisecond))
						defer func() { faultRows = append(faultRows, faultRow(kind, f, point, hits, outcome, !t.Failed())) }()
						requireNoMarks(ctx, t)
						lockGone(ctx, t, ns)
					})
				}
			}
		})
	}
}

// faultRows are the rows of the drill × fault table in docs/reliability.md (the subtests run one at
// a time).
var faultRows []string

var (
	loopbackPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)
	podName      = regexp.MustCompile(`karpenter-[a-z0-9]+-[a-z0-9]{5}`)
)

func faultRow(kind string, f harness.Fault, point string, hits []string, outcome string, restored bool) string {
	req := "—"
	if len(hits) > 0 {
		method, path, _ := strings.Cut(hits[0], " ")
		path, _, _ = strings.Cut(path, "?")
		path = regexp.MustCompile(`/namespaces/[^/]+`).ReplaceAllString(path, "/namespaces/NS")
		req = "`" + method + " " + podName.ReplaceAllString(path, "POD") + "`"
	}
	r := "✓ nothing left cordoned or marked, lock deleted"
	if !restored {
		r = "✗ not restored"
	}
	outcome = loopbackPort.ReplaceAllString(strings.ReplaceAll(outcome, "|", `\|`), "127.0.0.1:PORT")
	outcome = regexp.MustCompile(`df-[a-z-]+-\d+-\d+`).ReplaceAllString(outcome, "NS")
	outcome = podName.ReplaceAllString(outcome, "POD")
	return fmt.Sprintf("| %s | %s | %s: %s | %s | %s |", kind, f, point, req, outcome, r)
}

func writeFaultTable(t *testing.T) {
	md := "| drill | fault | hit | outcome | restored |\n|---|---|---|---|---|\n" + strings.Join(faultRows, "\n") + "\n"
	e2e.ReliabilitySection(t, "drill-faults", md)
}

// firstChange is the index of the drill's first write other than taking its lock (and the access
// reviews it asks, which change nothing), -1 without one.
func firstChange(requests []string) int {
	for i, q := range requests {
		method, path, _ := strings.Cut(q, " ")
		lockOrReview := method == "POST" && (strings.Contains(path, "/leases") || strings.HasPrefix(path, "/apis/authorization.k8s.io/"))
		if method != "GET" && !lockOrReview {
			return i
		}
	}
	return -1
}

// requireNoMarks: no node carries a drill's mark (each test's own pre-cordoned node is its cleanup's).
func requireNoMarks(ctx context.Context, t *testing.T) {
	t.Helper()
	if _, marked := cordonState(ctx, t); len(marked) != 0 {
		t.Fatalf("nodes still marked by a drill: %v", marked)
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
