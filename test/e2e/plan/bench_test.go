package plan

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/harness"
)

// Size of the live-load benchmark's cluster (issue #5): 5,000 pending pods, 1,000 nodes, 20,000 bound pods.
const (
	benchNodes        = 1000
	benchBoundPerNode = 20
	benchPending      = 5000
	benchWorkers      = 16
)

var (
	populateOnce sync.Once
	populateErr  error
	populateTime time.Duration
)

// populate creates the benchmark's objects once per process with a bounded pool of workers. Nodes are
// not kwok-managed, so kwok does not churn 20,000 pod statuses while the benchmark measures.
func populate(ctx context.Context, b *testing.B) {
	b.Helper()
	populateOnce.Do(func() {
		t0 := time.Now()
		cfg := rest.CopyConfig(env.Config)
		cfg.QPS, cfg.Burst = 5000, 10000
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			populateErr = err
			return
		}
		bld := harness.NewBuilder(c)
		for _, ns := range []string{"bench-bound", "bench-pending"} {
			if populateErr = bld.EnsureNamespace(ctx, ns); populateErr != nil {
				return
			}
		}
		zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
		populateErr = harness.Parallel(benchNodes, benchWorkers, func(i int) error {
			name := fmt.Sprintf("bench-node-%04d", i)
			if _, err := bld.CreateNode(ctx, harness.NodeSpec{Name: name, Zone: zones[i%len(zones)], CPU: "8", Memory: "32Gi", NotKwok: true}); err != nil {
				return err
			}
			return untaint(ctx, c, name)
		})
		if populateErr != nil {
			return
		}
		// Pods are only bound after every node exists.
		create := func(s podSpec) error {
			_, err := c.CoreV1().Pods(s.ns).Create(ctx, podObject(s), metav1.CreateOptions{})
			return err
		}
		populateErr = harness.Parallel(benchNodes*benchBoundPerNode, benchWorkers, func(i int) error {
			return create(podSpec{ns: "bench-bound", name: fmt.Sprintf("bound-%05d", i), node: fmt.Sprintf("bench-node-%04d", i/benchBoundPerNode), app: fmt.Sprintf("svc-%d", i%50), cpu: "350m", mem: "1Gi"})
		})
		if populateErr != nil {
			return
		}
		sizes := []struct{ cpu, mem string }{{"250m", "256Mi"}, {"500m", "512Mi"}, {"1", "2Gi"}, {"2", "4Gi"}, {"100m", "128Mi"}}
		populateErr = harness.Parallel(benchPending, benchWorkers, func(i int) error {
			s := sizes[i%len(sizes)]
			return create(podSpec{ns: "bench-pending", name: fmt.Sprintf("pending-%04d", i), app: fmt.Sprintf("app-%d", i%len(sizes)), cpu: s.cpu, mem: s.mem})
		})
		populateTime = time.Since(t0)
	})
	if populateErr != nil {
		b.Fatal(populateErr)
	}
}

// BenchmarkLiveLoad measures what `plan` does on a big cluster: the live load (paginated protobuf
// lists from the real apiserver) against the schedule it feeds. Goal: load ≤ 50 % of schedule.
//
//	go test -run '^$' -bench LiveLoad -benchtime 1x -benchmem ./test/e2e/plan
func BenchmarkLiveLoad(b *testing.B) {
	ctx := context.Background()
	karpenterAPI(ctx, b)
	populate(ctx, b)
	b.Logf("created %d nodes, %d bound and %d pending pods in %s (%d workers)", benchNodes, benchNodes*benchBoundPerNode, benchPending, populateTime.Round(time.Second), benchWorkers)
	cfg, counter := harness.CountRequests(env.Config)
	kube, err := cli.ClientsetFor(cfg) // protobuf, as plan reads
	if err != nil {
		b.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var loadTime, schedTime time.Duration
	var requests int
	var res *engine.Result
	b.ResetTimer()
	for range b.N {
		counter.Reset()
		t0 := time.Now()
		snap, err := load.FromCluster(ctx, kube, dyn, load.ClusterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		res, err = engine.Plan(ctx, snap, engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		loadTime += t1.Sub(t0)
		schedTime += time.Since(t1)
		requests += len(counter.Requests())
		if len(snap.PendingPods) < benchPending || len(snap.Pods) < benchNodes*benchBoundPerNode || len(snap.Nodes) < benchNodes {
			b.Fatalf("snapshot: %d pending, %d bound, %d nodes", len(snap.PendingPods), len(snap.Pods), len(snap.Nodes))
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(loadTime.Seconds()/n, "load-s/op")
	b.ReportMetric(schedTime.Seconds()/n, "schedule-s/op")
	b.ReportMetric(loadTime.Seconds()/schedTime.Seconds()*100, "load-%-of-schedule")
	b.ReportMetric(float64(requests)/n, "requests/op")
	b.Logf("plan: %d new nodes, %d pods on new, %d on existing, %d unschedulable", res.Totals.NewNodes, res.Totals.PodsOnNewNodes, res.Totals.PodsOnExistingNodes, res.Totals.UnschedulablePods)
	if loadTime > schedTime/2 {
		b.Errorf("live load %s is more than 50%% of schedule %s", loadTime/time.Duration(b.N), schedTime/time.Duration(b.N))
	}
}
