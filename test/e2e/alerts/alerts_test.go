// Package alerts tests `kubectl karpctl alerts` and `kubectl karpctl lease --serve` against a real
// kube-apiserver (internal/harness), running the command in-process.
package alerts

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/alerts"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

// karpenterPods creates a node and a Karpenter Deployment with two pods on it in ns, and no Lease.
func karpenterPods(ctx context.Context, t testing.TB, ns string) (pods []string) {
	t.Helper()
	b := harness.NewBuilder(env.Client)
	n := b.Node(ctx, t, harness.NodeSpec{Name: ns + "-node-a", Zone: "zone-a"})
	for _, p := range b.Karpenter(ctx, t, harness.KarpenterSpec{Namespace: ns}, n.Name, n.Name) {
		pods = append(pods, p.Name)
	}
	return pods
}

// karpenter is karpenterPods with the Deployment's Lease held by the first pod.
func karpenter(ctx context.Context, t *testing.T, ns string, durationSecs int32) (pods []string, l *coordinationv1.Lease) {
	t.Helper()
	pods = karpenterPods(ctx, t, ns)
	now := metav1.NewMicroTime(time.Now())
	id, zero := pods[0]+"_0f9e8d7c-aaaa-bbbb-cccc-000000000001", int32(0)
	l, err := env.Client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter-leader-election"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &durationSecs, AcquireTime: &now,
			RenewTime: &now, LeaseTransitions: &zero},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating lease: %v", err)
	}
	return pods, l
}

// The live command reads the lease's own duration and derives the no-leader wait from it; both
// formats pass promtool.
func TestAlertsFromCluster(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	ns := "karpenter-alerts"
	karpenter(ctx, t, ns, 60)

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "alerts", "--karpenter-namespace", ns, "--kube-state-metrics", "--runbook-url", "https://runbooks.example.com/k")
	if r.Code != 0 {
		t.Fatalf("alerts: exit %d: %s", r.Code, r.Stderr)
	}
	var pr alerts.PrometheusRule
	if err := yaml.UnmarshalStrict([]byte(r.Stdout), &pr); err != nil {
		t.Fatalf("output is not a PrometheusRule: %v\n%s", err, r.Stdout)
	}
	if pr.Kind != "PrometheusRule" || pr.Metadata.Namespace != ns {
		t.Errorf("kind %q namespace %q, want PrometheusRule in %s", pr.Kind, pr.Metadata.Namespace, ns)
	}
	// leaseDurationSeconds 60: 2 × (60 s + 2 s) + 2 × 30 s = 184 s → 4m.
	for _, want := range []string{
		"leaseDuration 1m (leaseDurationSeconds of Lease karpenter-alerts/karpenter-leader-election)",
		"Karpenter karpenter-alerts/karpenter (2 replicas)",
		`name="karpenter-leader-election"`,
		`kube_pod_container_status_restarts_total{namespace="karpenter-alerts"`,
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var noLeaderFor string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "KarpenterNoLeader" {
				noLeaderFor = r.For
			}
		}
	}
	if noLeaderFor != "4m" {
		t.Errorf("KarpenterNoLeader for %q, want 4m (derived from the 60 s lease)", noLeaderFor)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found")
		}
		t.Skip("promtool not found")
	}
	dir := t.TempDir()
	spec, _ := yaml.Marshal(pr.Spec)
	rr := e2e.Karpctl(ctx, t, env.Kubeconfig, "alerts", "--karpenter-namespace", ns, "--format", "rules")
	if code := rr.Code; code != 0 {
		t.Fatalf("alerts --format rules: exit %d: %s", code, rr.Stderr)
	}
	for name, body := range map[string]string{"spec.yaml": string(spec), "rules.yaml": rr.Stdout} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if res, err := exec.Command(promtool, "check", "rules", p).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules %s: %v\n%s", name, err, res)
		}
	}
}

// The exporter, against two simulated replicas doing real client-go leader election (hack/replica-sim),
// reports the holder and a renew age that grows once the leader is killed without releasing, then the
// follower's takeover with the gap the lease timestamps give; Ctrl-C (context cancel) shuts it down.
func TestLeaseExporter(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	ns := "karpenter-exporter"
	// No pre-made Lease: the simulated replicas elect a leader and write it themselves.
	pods := karpenterPods(ctx, t, ns)
	// A 6 s lease leaves time to watch the renew age grow before the follower takes over (client-go's
	// follower compares records at one-second resolution, so it may take over ~1 s before the duration).
	timings := harness.ReplicaSpec{Namespace: ns, LeaseDuration: 6 * time.Second, RenewDeadline: 4 * time.Second, RetryPeriod: 250 * time.Millisecond}
	start := func(pod string) *harness.Process {
		s := timings
		s.Pod = pod
		return e2e.Replica(t, env, s)
	}
	leaderProc := start(pods[0])
	waitHolder := func(pod string) *coordinationv1.Lease {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return e2e.WaitLeaseHolder(wctx, t, env, ns, "karpenter-leader-election", pod)
	}
	waitHolder(pods[0])
	start(pods[1])

	serveCtx, stop := context.WithCancel(ctx)
	serving := e2e.Start(serveCtx, env.Kubeconfig, "lease", "--karpenter-namespace", ns, "--serve", "127.0.0.1:0")
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/metrics`)
	var url string
	announceCtx, announced := context.WithTimeout(ctx, 20*time.Second)
	defer announced()
	if err := harness.Poll(announceCtx, 50*time.Millisecond, "the exporter's address", func() (bool, error) {
		if m := addr.FindStringSubmatch(serving.Stdout()); m != nil {
			url = "http://" + m[1] + "/metrics"
		}
		return url != "", nil
	}); err != nil {
		t.Fatalf("exporter never announced its address (%v); out %q err %q", err, serving.Stdout(), serving.Stderr())
	}

	first := scrape(t, url)
	if v := value(t, first, "karpctl_lease_up", nil); v != 1 {
		t.Fatalf("karpctl_lease_up = %v; stderr %s", v, serving.Stderr())
	}
	if v := value(t, first, "karpctl_lease_holder_info", map[string]string{"pod": pods[0]}); v != 1 {
		t.Errorf("holder_info{pod=%s} = %v", pods[0], v)
	}
	if age := value(t, first, "karpctl_lease_renew_age_seconds", nil); age < 0 || age > 1 {
		t.Errorf("renew age while renewing every 250ms = %.2fs, want < 1s", age)
	}
	if v := value(t, first, "karpctl_lease_verdict", map[string]string{"verdict": "Healthy"}); v != 1 {
		t.Errorf("verdict Healthy = %v", v)
	}
	if v := value(t, first, "karpctl_lease_duration_seconds", nil); v != 6 {
		t.Errorf("duration = %v, want 6", v)
	}

	leaderProc.Kill() // SIGKILL: no release, the lease must expire
	lastRenew := waitHolder(pods[0]).Spec.RenewTime.Time
	// The exporter computes now − renewTime while it answers, so between two scrapes the age grows by
	// the time between them: at least from the first's answer to the second's request, at most from
	// the first's request to the second's answer (measured, not assumed: a loaded machine stretches
	// the 1.5 s sleep and the scrapes).
	ageNow := func() (age float64, sent, answered time.Time) {
		sent = time.Now()
		age = value(t, scrape(t, url), "karpctl_lease_renew_age_seconds", nil)
		return age, sent, time.Now()
	}
	time.Sleep(time.Second)
	a, sentA, answeredA := ageNow()
	time.Sleep(1500 * time.Millisecond)
	b2, sentB, answeredB := ageNow()
	least, most := sentB.Sub(answeredA).Seconds(), answeredB.Sub(sentA).Seconds()
	t.Logf("renew age %.2fs then %.2fs after the leader was killed (%.2f–%.2fs apart)", a, b2, least, most)
	if a < 0.9 || b2-a < least-0.001 || b2-a > most+0.001 {
		t.Errorf("renew age after the kill: %.2fs then %.2fs; want >= 0.9s and growing by the %.2f–%.2fs between the scrapes", a, b2, least, most)
	}

	// The follower takes over once the lease expires.
	after := waitHolder(pods[1])
	var scraped map[string]*dto.MetricFamily
	changedCtx, changed := context.WithTimeout(ctx, 10*time.Second)
	defer changed()
	// The counters come from the exporter's lease watch, the holder from its informer cache: two
	// watches of the same lease, each a moment apart.
	if !harness.WaitFor(changedCtx, func() bool {
		scraped = scrape(t, url)
		return value(t, scraped, "karpctl_lease_holder_changes_total", nil) == 1 && holderPod(scraped) == pods[1]
	}) {
		t.Fatal("holder_changes_total never reached 1 with the new holder")
	}
	want := after.Spec.AcquireTime.Time.Sub(lastRenew).Seconds()
	gap := value(t, scraped, "karpctl_lease_last_gap_seconds", nil)
	t.Logf("measured gap %.3fs; lease timestamps say %.3fs", gap, want)
	if gap < want-0.1 || gap > want+0.1 {
		t.Errorf("last gap %.3fs, want %.3fs (±100ms)", gap, want)
	}
	if v := value(t, scraped, "karpctl_lease_expiries_total", nil); v != 1 {
		t.Errorf("expiries_total = %v, want 1", v)
	}
	if v := value(t, scraped, "karpctl_lease_holder_info", map[string]string{"pod": pods[1]}); v != 1 {
		t.Errorf("holder_info{pod=%s} = %v after the takeover", pods[1], v)
	}
	if v := value(t, scraped, "karpctl_lease_transitions", nil); v != 1 {
		t.Errorf("transitions = %v, want 1", v)
	}

	stop()
	code, exited := serving.Exited(10 * time.Second)
	if !exited {
		t.Fatal("lease --serve did not stop within 10s of Ctrl-C")
	}
	if code != 0 {
		t.Errorf("lease --serve exited %d after Ctrl-C: %s", code, serving.Stderr())
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the exporter still answers after shutdown")
	}
}

// holderPod is the pod label of karpctl_lease_holder_info, "" without one.
func holderPod(mfs map[string]*dto.MetricFamily) string {
	for _, m := range mfs["karpctl_lease_holder_info"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "pod" {
				return l.GetValue()
			}
		}
	}
	return ""
}

// scrape fetches url and parses it with expfmt, as Prometheus would.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return mfs
}

// value is the metric of family name whose labels include want; it fails the test when there is none.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no %s in the scrape", name)
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%s in the scrape", name, fmt.Sprint(want))
	return 0
}
