package drill

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// Both drills through a failing API server (harness.FaultProxy): the request in the middle of the
// drill gets each fault. The drill either completes as it does without the fault, or fails with exit
// 1 or 3 naming what failed; either way every node it cordoned is uncordoned and its lock is gone.
func TestDrillsThroughFaults(t *testing.T) {
	harness.Need(t, env)
	proxy, err := env.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
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
			requests := proxy.Requests()
			if base.Code != 0 {
				t.Fatalf("without a fault: exit %d: %s", base.Code, base.Stderr)
			}
			for i, f := range harness.Faults {
				t.Run(string(f), func(t *testing.T) {
					ns := fmt.Sprintf("df-%s-%d", kind, i)
					at := max(1, requests/2)
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
					t.Logf("%s hit by %s at %v: %s (%s)", kind, f, hits, outcome, took.Round(time.Millisecond))
					requireNoMarks(ctx, t)
					lockGone(ctx, t, ns)
				})
			}
		})
	}
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
