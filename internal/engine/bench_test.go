package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/harness"
)

// benchPending is a mixed workload: plain pods of several sizes, zone-spread pods and hostname
// anti-affinity pods, the shapes Karpenter's own scheduling benchmark uses.
func benchPending(n int) []*corev1.Pod {
	sizes := []struct{ cpu, mem string }{{"100m", "128Mi"}, {"250m", "512Mi"}, {"500m", "1Gi"}, {"1", "2Gi"}, {"2", "4Gi"}}
	out := make([]*corev1.Pod, 0, n)
	for i := 0; i < n; i++ {
		s := sizes[i%len(sizes)]
		var opts []podOpt
		switch i % 10 {
		case 0, 1:
			app := fmt.Sprintf("spread-%d", i%40)
			opts = append(opts, withLabels("app", app), withZoneSpread(app))
		case 2:
			app := fmt.Sprintf("anti-%d", i%20)
			opts = append(opts, withLabels("app", app), withHostnameAntiAffinity(app))
		}
		out = append(out, pod(fmt.Sprintf("p-%05d", i), s.cpu, s.mem, opts...))
	}
	return out
}

func benchNodePools() []*karpv1.NodePool {
	return []*karpv1.NodePool{
		nodePool("default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "spot", "on-demand")),
		nodePool("amd64", req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64")),
		nodePool("on-demand", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand")),
	}
}

// clusterSnapshot has nodes × podsPerNode bound pods spread over the kwok zones, plus pending pods.
func clusterSnapshot(nodes, podsPerNode, pending int) *Snapshot {
	zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
	snap := &Snapshot{NodePools: benchNodePools(), PendingPods: benchPending(pending)}
	for i := 0; i < nodes; i++ {
		n := readyNode(fmt.Sprintf("node-%04d", i), zones[i%len(zones)], "", "32", "128Gi")
		snap.Nodes = append(snap.Nodes, n)
		for j := 0; j < podsPerNode; j++ {
			p := pod(fmt.Sprintf("bound-%04d-%02d", i, j), "100m", "256Mi", withLabels("app", fmt.Sprintf("svc-%d", j)))
			p.Spec.NodeName = n.Name
			p.UID = types.UID(fmt.Sprintf("bound-%d-%d", i, j))
			p.Status.Phase = corev1.PodRunning
			snap.Pods = append(snap.Pods, p)
		}
	}
	return snap
}

// BenchmarkPlan is the whole of engine.Plan on 5,000 pending pods with the kwok catalog.
func BenchmarkPlan(b *testing.B) {
	cat := kwok(b)
	snap := clusterSnapshot(0, 0, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Plan(context.Background(), snap, cat, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanOverhead compares engine.Plan with Karpenter's Provisioner.Schedule alone on the same
// snapshot (the simulation is built outside the timed part for the latter) and reports plan/schedule.
func BenchmarkPlanOverhead(b *testing.B) {
	cat := kwok(b)
	snap := clusterSnapshot(0, 0, 5000)
	var planTime, scheduleTime time.Duration
	var planPeak, schedulePeak uint64
	for i := 0; i < b.N; i++ {
		var err error
		start := time.Now()
		planPeak = max(planPeak, peakHeap(func() { _, err = Plan(context.Background(), snap, cat, Options{}) }))
		planTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}

		sim, err := newSimulation(context.Background(), snap, cat, Options{})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		schedulePeak = max(schedulePeak, peakHeap(func() { _, err = sim.provisioner.Schedule(sim.ctx) }))
		scheduleTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(planTime)/float64(scheduleTime), "plan/schedule")
	b.ReportMetric(scheduleTime.Seconds()/float64(b.N), "schedule-s/op")
	b.ReportMetric(float64(planPeak)/float64(schedulePeak), "peak-heap-plan/schedule")
	b.ReportMetric(float64(planPeak)/(1<<20), "plan-peak-heap-MiB")
	b.ReportMetric(float64(schedulePeak)/(1<<20), "schedule-peak-heap-MiB")
}

// peakHeap is the live-heap growth while f runs (harness.PeakHeap). The schedule-only baseline
// starts with its simulation already built, so Plan's figure includes what karpctl adds: the snapshot
// and the result.
var peakHeap = harness.PeakHeap

// BenchmarkSnapshotBuild builds the simulation (client, cluster state) for 1,000 nodes with 20,000
// bound pods — the part that took 81.7 s for 500×20 with controller-runtime's fake client.
func BenchmarkSnapshotBuild(b *testing.B) {
	cat := kwok(b)
	snap := clusterSnapshot(1000, 20, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := newSimulation(context.Background(), snap, cat, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanLargeCluster is a full plan over the same 1,000-node cluster with 1,000 pending pods.
func BenchmarkPlanLargeCluster(b *testing.B) {
	cat := kwok(b)
	snap := clusterSnapshot(1000, 20, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Plan(context.Background(), snap, cat, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
