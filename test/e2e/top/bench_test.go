package top

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
)

// Size of the load benchmark's cluster: 2,000 Karpenter nodes with 10 pods each.
const (
	benchNodes       = 2000
	benchPodsPerNode = 10
	benchWorkers     = 16
)

func populate(ctx context.Context, b *testing.B) {
	b.Helper()
	if err := sandbox.CreateReadyNodePool(ctx, dyn, "bench", 0); err != nil {
		b.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	bld := harness.NewBuilder(c)
	if err := bld.EnsureNamespace(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
	labels := map[string]string{karpv1.NodePoolLabelKey: "bench", corev1.LabelInstanceTypeStable: instanceType, karpv1.CapacityTypeLabelKey: "spot"}
	if err := harness.Parallel(benchNodes, benchWorkers, func(i int) error {
		_, err := bld.CreateNode(ctx, harness.NodeSpec{Name: fmt.Sprintf("bench-%04d", i), Zone: zones[i%len(zones)], Labels: labels, CPU: "4", Memory: "16Gi", NotKwok: true})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if err := harness.Parallel(benchNodes*benchPodsPerNode, benchWorkers, func(i int) error {
		p := harness.PodObject(harness.PodSpec{Namespace: "bench", Name: fmt.Sprintf("bound-%05d", i), Node: fmt.Sprintf("bench-%04d", i/benchPodsPerNode), CPU: "300m", Memory: "1Gi"})
		_, err := c.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkTopLoad runs top's model on 2,000 nodes and 20,000 pods: the first screen (every kind
// read, the screen built), a change reaching the screen, the memory of the caches against the
// whole model's, and the requests: one LIST and one WATCH per kind, none repeated.
func BenchmarkTopLoad(b *testing.B) {
	harness.Need(b, env)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cluster(ctx, b)
	populate(ctx, b)
	for i := range b.N {
		runCtx, stop := context.WithCancel(ctx)
		base := heap()
		t0 := time.Now()
		live, rec, _ := liveModel(runCtx, b)
		synced := time.Since(t0)
		// Measuring the heap (a full GC) is left out of the times.
		caches := heap()
		t0 = time.Now()
		s := screenNow(live)
		first := synced + time.Since(t0)
		if pl := poolOf(s, "bench"); pl == nil || pl.Nodes != benchNodes {
			b.Fatalf("first screen: bench NodePool %+v, want %d nodes", pl, benchNodes)
		}
		withScreen := heap()
		name := fmt.Sprintf("change-%d", i)
		p := harness.PodObject(harness.PodSpec{Namespace: "bench", Name: name, Node: "bench-0001", CPU: "100m", Memory: "64Mi"})
		t1 := time.Now()
		if _, err := env.Client.CoreV1().Pods("bench").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		for {
			if r := rowOf(screenNow(live), "bench-0001"); r != nil && r.Pods == benchPodsPerNode+1 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		change := time.Since(t1)
		b.ReportMetric(synced.Seconds(), "synced-s")
		b.ReportMetric(first.Seconds(), "first-screen-s")
		b.ReportMetric(change.Seconds(), "change-s")
		b.ReportMetric(float64(caches-base)/(1<<20), "caches-MiB")
		b.ReportMetric(float64(withScreen-base)/float64(caches-base), "model/caches")
		checkOneListOneWatch(b, rec.Requests(), rec.Statuses(), true)
		stop()
		_ = env.Client.CoreV1().Pods("bench").Delete(ctx, name, metav1.DeleteOptions{})
	}
}
