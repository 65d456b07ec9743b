package alerts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// BenchmarkLeaseExporterScrapes measures `lease --serve` under scrapers: one at a time, then 20 at
// once, each scrape a full /metrics answer. Every scrape is answered from the informer caches, so the
// API requests the exporter sends while the scrapers run (the reported api-requests/scrape) do not
// grow with the scrape rate: they are the watches' own, whatever the number of scrapes.
func BenchmarkLeaseExporterScrapes(b *testing.B) {
	harness.Need(b, env)
	ctx := e2e.Context(b, 10*time.Minute)
	const ns = "exporter-bench"
	pods := karpenterPods(ctx, b, ns)
	// The first replica leads before the second starts: started together, either may win, and a wait
	// for the first would then last as long as the second holds the lease (the whole benchmark).
	e2e.Replica(b, env, harness.ReplicaSpec{Namespace: ns, Pod: pods[0]})
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	e2e.WaitLeaseHolder(wctx, b, env, ns, "", pods[0])
	cancel()
	e2e.Replica(b, env, harness.ReplicaSpec{Namespace: ns, Pod: pods[1]})
	serving := e2e.Start(ctx, env.Kubeconfig, "lease", "--karpenter-namespace", ns, "--serve", "127.0.0.1:0")
	url := exporterURL(ctx, b, serving)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 10 * time.Second}
	if _, err := scrapeOnce(client, url); err != nil { // the first scrape waits for the caches
		b.Fatal(err)
	}
	var table strings.Builder
	table.WriteString("| scrapers | scrapes | scrapes/s | p50 | p99 | API requests meanwhile | per scrape |\n|---|---|---|---|---|---|---|\n")
	for _, scrapers := range []int{1, 20} {
		b.Run(fmt.Sprintf("scrapers=%d", scrapers), func(b *testing.B) {
			for b.Loop() {
				before := len(serving.Requests())
				lat, took := scrapeLoad(b, client, url, scrapers, 4000)
				sent := len(serving.Requests()) - before
				b.ReportMetric(float64(len(lat))/took.Seconds(), "scrapes/s")
				b.ReportMetric(ms(percentile(lat, 0.50)), "ms/p50")
				b.ReportMetric(ms(percentile(lat, 0.99)), "ms/p99")
				b.ReportMetric(float64(sent), "api-requests")
				b.ReportMetric(float64(sent)/float64(len(lat)), "api-requests/scrape")
				fmt.Fprintf(&table, "| %d | %d | %.0f | %.2f ms | %.2f ms | %d | %.4f |\n", scrapers, len(lat), float64(len(lat))/took.Seconds(),
					ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), sent, float64(sent)/float64(len(lat)))
				b.Logf("%d scrapers: %d scrapes in %s, p99 %s, %d API requests meanwhile: %v", scrapers, len(lat), took.Round(time.Millisecond),
					percentile(lat, 0.99).Round(time.Microsecond), sent, serving.Requests()[before:before+sent])
			}
		})
	}
	e2e.ReliabilitySection(b, "exporter", table.String())
}

// scrapeLoad has scrapers goroutines share n scrapes of url and returns each scrape's latency and the
// wall time of all.
func scrapeLoad(b *testing.B, client *http.Client, url string, scrapers, n int) ([]time.Duration, time.Duration) {
	var mu sync.Mutex
	var lat []time.Duration
	work := make(chan struct{}, n)
	for range n {
		work <- struct{}{}
	}
	close(work)
	errs := make(chan error, scrapers)
	start := time.Now()
	var wg sync.WaitGroup
	for range scrapers {
		wg.Go(func() {
			for range work {
				d, err := scrapeOnce(client, url)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return lat, took
}

// leaseUp reports whether body has the line karpctl_lease_up{…} 1 (without a regular expression:
// the scrapers share the CPUs with the exporter they measure).
func leaseUp(body []byte) bool {
	for line := range bytes.Lines(body) {
		if bytes.HasPrefix(line, []byte("karpctl_lease_up{")) && bytes.HasSuffix(bytes.TrimRight(line, "\n"), []byte("} 1")) {
			return true
		}
	}
	return false
}

func scrapeOnce(client *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !leaseUp(body) {
		return 0, fmt.Errorf("scrape: %v %s %.300s", err, resp.Status, body)
	}
	return time.Since(start), nil
}

// exporterURL waits for `lease --serve` to announce its address.
func exporterURL(ctx context.Context, t testing.TB, serving *e2e.Running) string {
	t.Helper()
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
	return url
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
