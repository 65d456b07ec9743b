package drill

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// Both drills through a failing API server (harness.FaultProxy), each fault at the points
// faultPoints names: a read before the drill changes anything, each kind of change it makes, and
// the first request that puts the cluster back. Hit by a read, the drill either completes as it does
// without the fault, or fails with exit 1 or 3 naming what failed. Hit by a change or while
// restoring, it completes as without the fault: the drill retries what a retry can cure. Either way
// every node it cordoned is uncordoned and its lock is gone.
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
			t.Logf("requests without a fault: %d; the first change is request %d: %s", len(base.Requests), action+1, base.Requests[action])
			points := faultPoints(kind, base.Requests, action)
			for i, f := range harness.Faults {
				for j, pt := range points {
					if f == harness.ExpiredContinue && j > 0 {
						continue // only the drill's reads are lists, and none of them pages
					}
					point := pt.name
					t.Run(string(f)+"/"+point, func(t *testing.T) {
						ns := fmt.Sprintf("df-%s-%d-%d", kind, i, j)
						if f == harness.ExpiredContinue {
							proxy.Inject(f, 1, 1)
						} else {
							proxy.InjectOn(f, pt.method, pt.path, pt.at, 1)
						}
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
						if j > 0 && (len(hits) == 0 || outcome != "same answer") {
							t.Errorf("%s: %s (hit %v); the drill should retry it", point, outcome, hits)
						}
						defer func() { faultRows = append(faultRows, faultRow(kind, f, point, hits, outcome, !t.Failed())) }()
						requireNoMarks(ctx, t)
						lockGone(ctx, t, ns)
					})
				}
			}
		})
	}
}

// restoring is the fault point at the first request that puts the cluster back.
const restoring = "while restoring"

// faultPoint is where a fault is injected: the at-th request with method whose path contains path
// (any request when both are empty).
type faultPoint struct {
	name, method, path string
	at                 int
}

// faultPoints are the points a drill of kind is hit at, found in the requests of a run without a
// fault (first is the index of its first change): a read half-way to the first change, the first
// change (leader-kill's eviction, zone-outage's first cordon), zone-outage's first eviction, and
// the first request that puts the cluster back (leader-kill deletes its lock; zone-outage uncordons,
// with the node PATCHes after its cordons).
func faultPoints(kind string, requests []string, first int) []faultPoint {
	if kind == "leader-kill" {
		return []faultPoint{
			{"before the action", "", "", max(1, first/2)},
			{"the eviction", "POST", "/eviction", 1},
			{restoring, "DELETE", "/leases/" + drill.LockName, 1},
		}
	}
	cordons := 0
	for _, q := range requests {
		if strings.HasPrefix(q, "POST ") && strings.HasSuffix(strings.Split(q, "?")[0], "/eviction") {
			break
		}
		if strings.HasPrefix(q, "PATCH /api/v1/nodes/") {
			cordons++
		}
	}
	return []faultPoint{
		{"before the action", "", "", max(1, first/2)},
		{"the first cordon", "PATCH", "/api/v1/nodes/", 1},
		{"the eviction", "POST", "/eviction", 1},
		{restoring, "PATCH", "/api/v1/nodes/", cordons + 1},
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
