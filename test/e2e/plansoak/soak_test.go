// Package plansoak is `make bench`'s soak of `kubectl karpctl plan` on a cluster in motion: plans
// every second for two minutes while a churn loop creates nodes with bound pods and deletes nodes
// under their pods, as spot interruptions and scale-downs do. It starts its control plane only when
// benchmarks run.
package plansoak

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
)

var env *harness.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // no benchmark asked for: no control plane
	}
	os.Exit(harness.Main(m, harness.Options{}, &env))
}

const (
	soakNodes       = 100
	soakBoundPerNod = 10
	soakPending     = 200
	soakDuration    = 2 * time.Minute
	// The churn keeps at most this many of its nodes, and the pods of this many deleted ones, so that
	// the cluster stays the size of the quiet one give or take a few percent.
	churnLive, churnOrphaned = 5, 5
)

func pod(ns, name, node, cpu string) *corev1.Pod {
	return harness.PodObject(harness.PodSpec{Namespace: ns, Name: name, Node: node, CPU: cpu, Memory: "256Mi", Labels: map[string]string{"app": name[:len(name)-2]}})
}

func populate(ctx context.Context, b *testing.B, c kubernetes.Interface) {
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		b.Fatal(err)
	}
	if err := sandbox.InstallCRDs(ctx, dyn); err != nil {
		b.Fatal(err)
	}
	if err := sandbox.CreateReadyNodePool(ctx, dyn, "default", 0); err != nil {
		b.Fatal(err)
	}
	bld := harness.NewBuilder(c)
	for _, ns := range []string{"soak", "churn"} {
		if err := bld.EnsureNamespace(ctx, ns); err != nil {
			b.Fatal(err)
		}
	}
	zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
	err = harness.Parallel(soakNodes, 8, func(i int) error {
		name := fmt.Sprintf("soak-%03d", i)
		if _, err := bld.CreateNode(ctx, harness.NodeSpec{Name: name, Zone: zones[i%4], CPU: "8", Memory: "32Gi", NotKwok: true}); err != nil {
			return err
		}
		for j := range soakBoundPerNod {
			if _, err := c.CoreV1().Pods("soak").Create(ctx, pod("soak", fmt.Sprintf("b-%03d-%d", i, j), name, "700m"), metav1.CreateOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	err = harness.Parallel(soakPending, 8, func(i int) error {
		_, err := c.CoreV1().Pods("soak").Create(ctx, pod("soak", fmt.Sprintf("p-%03d-%d", i, i%10), "", "1"), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
}

// churn creates a node with bound pods every second, deletes the oldest of its live nodes (its pods stay, bound
// to a node that no longer exists, as after a spot interruption) and removes the pods of the oldest
// deleted one (as the pod garbage collector would), until ctx ends. It returns how many nodes it
// went through.
func churn(ctx context.Context, c kubernetes.Interface) (int, error) {
	bld := harness.NewBuilder(c)
	var live, orphaned []string
	n := 0
	for ctx.Err() == nil {
		name := fmt.Sprintf("churn-%05d", n)
		if _, err := bld.CreateNode(ctx, harness.NodeSpec{Name: name, Zone: "test-zone-a", CPU: "4", Memory: "16Gi", NotKwok: true}); err != nil {
			return n, ignoreDone(ctx, err)
		}
		for j := range 5 {
			if _, err := c.CoreV1().Pods("churn").Create(ctx, pod("churn", fmt.Sprintf("%s-%d", name, j), name, "500m"), metav1.CreateOptions{}); err != nil {
				return n, ignoreDone(ctx, err)
			}
		}
		live = append(live, name)
		n++
		if len(live) > churnLive {
			if err := c.CoreV1().Nodes().Delete(ctx, live[0], metav1.DeleteOptions{}); err != nil {
				return n, ignoreDone(ctx, err)
			}
			orphaned, live = append(orphaned, live[0]), live[1:]
		}
		if len(orphaned) > churnOrphaned {
			for j := range 5 {
				if err := c.CoreV1().Pods("churn").Delete(ctx, fmt.Sprintf("%s-%d", orphaned[0], j), metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
					return n, ignoreDone(ctx, err)
				}
			}
			orphaned = orphaned[1:]
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return n, nil
}

func ignoreDone(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type planRun struct {
	wall time.Duration
	heap uint64
	code int
}

// planOnce runs `kubectl karpctl plan -n soak -o json` in-process, output discarded.
func planOnce(ctx context.Context) planRun {
	var r planRun
	r.heap = harness.PeakHeap(func() {
		t0 := time.Now()
		e := &commands.Env{IOStreams: genericiooptions.IOStreams{In: nil, Out: io.Discard, ErrOut: io.Discard}, Globals: cli.NewGlobals()}
		r.code = commands.Run(ctx, e, "kubectl-karpctl", []string{"plan", "-n", "soak", "-o", "json", "--kubeconfig", env.Kubeconfig})
		r.wall = time.Since(t0)
	})
	return r
}

func median(runs []planRun) time.Duration {
	w := make([]time.Duration, len(runs))
	for i, r := range runs {
		w[i] = r.wall
	}
	slices.Sort(w)
	return w[len(w)/2]
}

func maxHeap(runs []planRun) uint64 {
	var m uint64
	for _, r := range runs {
		m = max(m, r.heap)
	}
	return m
}

// BenchmarkPlanUnderChurn: zero failed plans, and the plan's median wall time and peak heap under
// churn within 1.2× of the quiet cluster's.
//
//	go test -run '^$' -bench PlanUnderChurn -benchtime 1x ./test/e2e/plansoak
func BenchmarkPlanUnderChurn(b *testing.B) {
	harness.Need(b, env)
	ctx := context.Background()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	populate(ctx, b, c)
	for range b.N {
		var quiet []planRun
		for range 10 {
			quiet = append(quiet, planOnce(ctx))
		}
		cctx, stop := context.WithTimeout(ctx, soakDuration)
		var churned atomic.Int64
		churnErr := make(chan error, 1)
		go func() {
			n, err := churn(cctx, c)
			churned.Store(int64(n))
			churnErr <- err
		}()
		var busy []planRun
		failed := 0
		tick := time.NewTicker(time.Second)
		for cctx.Err() == nil {
			r := planOnce(ctx)
			busy = append(busy, r)
			if r.code != cli.ExitOK && r.code != cli.ExitUnhealthy {
				failed++
			}
			select {
			case <-cctx.Done():
			case <-tick.C:
			}
		}
		tick.Stop()
		stop()
		if err := <-churnErr; err != nil {
			b.Fatalf("churn: %v", err)
		}
		for _, r := range quiet {
			if r.code != cli.ExitOK && r.code != cli.ExitUnhealthy {
				b.Fatalf("a quiet plan failed: exit %d", r.code)
			}
		}
		wallRatio := float64(median(busy)) / float64(median(quiet))
		heapRatio := float64(maxHeap(busy)) / float64(maxHeap(quiet))
		b.ReportMetric(float64(len(busy)), "plans")
		b.ReportMetric(float64(failed), "failed-plans")
		b.ReportMetric(float64(churned.Load()), "churned-nodes")
		b.ReportMetric(median(quiet).Seconds(), "quiet-wall-s")
		b.ReportMetric(median(busy).Seconds(), "churn-wall-s")
		b.ReportMetric(wallRatio, "wall-churn/quiet")
		b.ReportMetric(float64(maxHeap(quiet))/(1<<20), "quiet-peak-heap-MiB")
		b.ReportMetric(float64(maxHeap(busy))/(1<<20), "churn-peak-heap-MiB")
		b.ReportMetric(heapRatio, "heap-churn/quiet")
		b.Logf("%d plans under churn (%d nodes churned), %d failed; median wall %s quiet, %s under churn (%.2f×); peak heap %.0f MiB quiet, %.0f MiB under churn (%.2f×)",
			len(busy), churned.Load(), failed, median(quiet).Round(time.Millisecond), median(busy).Round(time.Millisecond), wallRatio,
			float64(maxHeap(quiet))/(1<<20), float64(maxHeap(busy))/(1<<20), heapRatio)
		if failed > 0 {
			b.Errorf("%d of %d plans failed under churn", failed, len(busy))
		}
		if wallRatio > 1.2 || heapRatio > 1.2 {
			b.Errorf("under churn: wall %.2f× and peak heap %.2f× the quiet cluster's (target ≤ 1.2×)", wallRatio, heapRatio)
		}
	}
}
