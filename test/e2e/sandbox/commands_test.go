package sandbox

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/test/e2e"
)

// audit-topology against the real replicas: the sandbox's chart-like Deployment passes under basic,
// names the real leader, and losing the leader's zone means a failover.
func TestAuditTopologyAgainstRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, time.Minute)
	_, ld := steady(ctx, t)
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "audit-topology", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("audit-topology: exit %d: %s", r.Code, r.Stderr)
	}
	var rep topology.Report
	r.Decode(t, &rep)
	if rep.Leader != ld.Pod || rep.Replicas.Ready != 2 || rep.Summary.Errors != 0 {
		t.Fatalf("leader %q (real %q), ready %d, errors %d", rep.Leader, ld.Pod, rep.Replicas.Ready, rep.Summary.Errors)
	}
	zones := map[string]bool{}
	for _, p := range rep.Placements {
		if p.KarpenterManaged || !strings.HasPrefix(p.Zone, "test-zone-") {
			t.Errorf("placement %+v", p)
		}
		zones[p.Zone] = true
	}
	if len(zones) != 2 {
		t.Errorf("replicas in zones %v: the zone spread should put them apart", zones)
	}
	leaderZone := ""
	for _, p := range rep.Placements {
		if p.Pod == ld.Pod {
			leaderZone = p.Zone
		}
	}
	if leaderZone == "" {
		t.Fatalf("no placement with a zone for the leader %s: %+v", ld.Pod, rep.Placements)
	}
	matched := 0
	for _, z := range rep.ZoneLoss {
		if z.Domain != leaderZone {
			continue
		}
		matched++
		if z.LeaderLost == nil || !*z.LeaderLost || z.Remaining != 1 {
			t.Errorf("losing the leader's zone %s: %+v", leaderZone, z)
		}
	}
	if matched != 1 {
		t.Errorf("want exactly one zone-loss scenario for the leader's zone %s, got %d: %+v", leaderZone, matched, rep.ZoneLoss)
	}
}

// health against the real replicas: every check but the proxied metrics is OK; the metrics checks are
// SKIPPED with the API server's refusal (loopback pod IPs), never passed.
func TestHealthAgainstRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, time.Minute)
	_, ld := steady(ctx, t)
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "health", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("health: exit %d: %s", r.Code, r.Stderr)
	}
	var rep health.Report
	r.Decode(t, &rep)
	sawLeader := false
	for _, c := range rep.Checks {
		if c.Name == "leader" {
			sawLeader = true
		}
		switch {
		case strings.HasPrefix(c.Name, "metrics/"):
			if c.Status != health.Skipped || (c.Name != "metrics/leader-status" && !strings.Contains(c.Message, "address not allowed")) {
				t.Errorf("%s: %s %q, want SKIPPED with the refusal", c.Name, c.Status, c.Message)
			}
		case c.Status != health.OK:
			t.Errorf("%s: %s %q", c.Name, c.Status, c.Message)
		case c.Name == "leader" && !strings.Contains(c.Message, ld.Pod):
			t.Errorf("leader check %q does not name %s", c.Message, ld.Pod)
		}
	}
	if !sawLeader {
		t.Errorf("no leader check in %+v", rep.Checks)
	}
}

// The metrics the health checks and the alert rules rely on, read from the real replicas' own
// /metrics (the sandbox binds them on 127.0.0.1): exactly one replica reports
// leader_election_master_status 1 and it is the lease holder, and every metric the generated rules
// use is served with the labels they select on.
func TestRealMetricsMatchHealthAndAlerts(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 2*time.Minute)
	procs, ld := steady(ctx, t)
	var leaders []string
	served := map[string]string{} // metric name -> one scrape's text, for label checks
	for _, p := range procs {
		text := scrapeUntil(ctx, t, p.MetricsPort, "leader_election_master_status")
		m, err := health.ParseMetrics(strings.NewReader(text), sb.LeaseName)
		if err != nil {
			t.Fatalf("%s: parsing real metrics: %v", p.Pod, err)
		}
		if m.LeaderStatus != nil && *m.LeaderStatus == 1 {
			leaders = append(leaders, p.Pod)
		}
		if m.Total == 0 {
			t.Errorf("%s: no client_go_request_total in its own metrics", p.Pod)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		for name := range mfs {
			served[name] = text
		}
	}
	if len(leaders) != 1 || leaders[0] != ld.Pod {
		t.Fatalf("replicas reporting leader_election_master_status 1: %v; the lease holder is %s", leaders, ld.Pod)
	}

	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "alerts", "--format", "rules")
	if r.Code != 0 {
		t.Fatalf("alerts: exit %d: %s", r.Code, r.Stderr)
	}
	// Every raw metric a rule reads (not a recorded karpenter:* series, not kube-state-metrics) is served.
	used := regexp.MustCompile(`\b(leader_election_[a-z_]+|client_go_[a-z_]+)\{([^}]*)\}`).FindAllStringSubmatch(r.Stdout, -1)
	if len(used) == 0 {
		t.Fatalf("no Karpenter metric in the rules:\n%s", r.Stdout)
	}
	names := map[string]bool{}
	for _, u := range used {
		names[u[1]] = true
	}
	t.Logf("Karpenter metrics the rules read: %v; the real replicas serve %d metric families", names, len(served))
	for _, u := range used {
		name := strings.TrimSuffix(strings.TrimSuffix(u[1], "_bucket"), "_count")
		if _, ok := served[name]; !ok {
			t.Errorf("the rules use %s, which the real Karpenter v1.15.0 does not serve", u[1])
		}
		if strings.Contains(u[2], `name="`) && !strings.Contains(served[name], fmt.Sprintf(`name=%q`, sb.LeaseName)) {
			t.Errorf("the rules select %s{%s}; the real series has no name=%q", u[1], u[2], sb.LeaseName)
		}
	}
}

// scrapeUntil reads http://127.0.0.1:port/metrics until it contains want (a replica registers the
// leader-election gauge when it first runs an election).
func scrapeUntil(ctx context.Context, t *testing.T, port int, want string) string {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	var last string
	err := harness.Poll(ctx, 500*time.Millisecond, url+" to serve "+want, func() (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = string(body)
		return strings.Contains(last, want), nil
	})
	if err != nil {
		t.Fatalf("%s never served %s (last %d bytes): %v", url, want, len(last), err)
	}
	return last
}
