package alerts

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// The kube-apiserver freezes (SIGSTOP) while `lease --serve` runs: once its watch reports the
// silence, a scrape answers at once with karpctl_lease_up 0 and the silence's length, and no verdict
// (the lease's state is unknown, not Expired); after SIGCONT up is 1 again.
func TestLeaseExporterDuringAPIServerFreeze(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "exporter-freeze"
	pods := karpenterPods(ctx, t, ns)
	e2e.Replica(t, env, harness.ReplicaSpec{Namespace: ns, Pod: pods[0], NoRelease: true,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond})
	e2e.WaitLeaseHolder(ctx, t, env, ns, "", pods[0])

	serving := e2e.Start(ctx, env.Kubeconfig, "lease", "--karpenter-namespace", ns, "--serve", "127.0.0.1:0")
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/metrics`)
	url := ""
	if err := harness.Poll(ctx, 50*time.Millisecond, "the exporter's address", func() (bool, error) {
		if m := addr.FindStringSubmatch(serving.Stdout()); m != nil {
			url = "http://" + m[1] + "/metrics"
		}
		return url != "", nil
	}); err != nil {
		t.Fatalf("no address: %v; %s", err, serving.Stderr())
	}
	if v := value(t, scrape(t, url), "karpctl_lease_up", nil); v != 1 {
		t.Fatalf("before the freeze: up %v", v)
	}
	thaw, err := env.FreezeAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = thaw() }) // never leave the API server frozen
	// Stale after 2 s (⅔ of 3 s): the watch reports the silence shortly after.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var silent float64
	// Until the watch reports the silence a scrape's read waits out its timeout (up 0 all the same);
	// from then on the scrape answers at once.
	if err := harness.Poll(wctx, 200*time.Millisecond, "karpctl_lease_api_silent_seconds > 0", func() (bool, error) {
		mfs := scrape(t, url)
		return value(t, mfs, "karpctl_lease_api_silent_seconds", nil) > 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	mfs := scrape(t, url)
	if took := time.Since(sent); took > time.Second {
		t.Fatalf("a scrape while the API server is reported silent took %s", took)
	}
	silent = value(t, mfs, "karpctl_lease_api_silent_seconds", nil)
	if up := value(t, mfs, "karpctl_lease_up", nil); up != 0 {
		t.Fatalf("karpctl_lease_up %v while silent", up)
	}
	if _, ok := mfs["karpctl_lease_verdict"]; ok {
		t.Fatalf("a verdict while the API server is silent")
	}
	if silent < 2 {
		t.Fatalf("api_silent_seconds %.1f, want at least the 2 s stale threshold", silent)
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(wctx, 200*time.Millisecond, "karpctl_lease_up 1 after SIGCONT", func() (bool, error) {
		mfs := scrape(t, url)
		return value(t, mfs, "karpctl_lease_up", nil) == 1 && value(t, mfs, "karpctl_lease_api_silent_seconds", nil) == 0, nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("silent for %.1fs when scraped; up again after SIGCONT", silent)
}
