package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	snap := clusterSnapshot(0, 0, 5000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Plan(context.Background(), snap, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanOverhead compares engine.Plan with Karpenter's Provisioner.Schedule alone on the same
// snapshot (the simulation is built outside the timed part for the latter) and reports plan/schedule:
// with kwok's catalog, and with the AWS provider's instance types for an EKS-style EC2NodeClass in
// eu-west-1 (the model's time is part of Plan's).
func BenchmarkPlanOverhead(b *testing.B) {
	b.Run("kwok", func(b *testing.B) { planOverhead(b, clusterSnapshot(0, 0, 5000)) })
	b.Run("aws", func(b *testing.B) { planOverhead(b, awsBenchSnapshot(5000)) })
}

// awsBenchSnapshot has the benchmark's NodePools on an EC2NodeClass (AL2023, subnets in three zones
// of eu-west-1) and n pending pods.
func awsBenchSnapshot(n int) *Snapshot {
	snap := &Snapshot{PendingPods: benchPending(n)}
	for _, np := range benchNodePools() {
		np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
		snap.NodePools = append(snap.NodePools, np)
	}
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	for i, z := range []string{"a", "b", "c"} {
		nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z, Zone: "eu-west-1" + z, ZoneID: fmt.Sprintf("euw1-az%d", i+1)})
	}
	snap.EC2NodeClasses = []*awsv1.EC2NodeClass{nc}
	return snap
}

func planOverhead(b *testing.B, snap *Snapshot) {
	var planTime, scheduleTime time.Duration
	var planPeak, schedulePeak uint64
	for i := 0; i < b.N; i++ {
		var err error
		start := time.Now()
		planPeak = max(planPeak, peakHeap(func() { _, err = Plan(context.Background(), snap, Options{}) }))
		planTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}

		sim, err := newSimulation(context.Background(), snap, Options{})
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

// BenchmarkAWSModel is what resolving the AWS instance types of one EC2NodeClass adds to a plan.
func BenchmarkAWSModel(b *testing.B) {
	snap := awsBenchSnapshot(0)
	ref := snap.NodePools[0].Spec.Template.Spec.NodeClassRef
	ctx, err := karpenterContext(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := NewAWSSource(DefaultAWSModel, snap, "").Resolve(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
}

// peakHeap is the live-heap growth while f runs (harness.PeakHeap). The schedule-only baseline
// starts with its simulation already built, so Plan's figure includes what karpctl adds: the snapshot
// and the result.
var peakHeap = harness.PeakHeap

// BenchmarkSnapshotBuild builds the simulation (client, cluster state) for 1,000 nodes with 20,000
// bound pods — the part that took 81.7 s for 500×20 with controller-runtime's fake client.
func BenchmarkSnapshotBuild(b *testing.B) {
	snap := clusterSnapshot(1000, 20, 100)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := newSimulation(context.Background(), snap, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanLargeCluster is a full plan over the same 1,000-node cluster with 1,000 pending pods.
func BenchmarkPlanLargeCluster(b *testing.B) {
	snap := clusterSnapshot(1000, 20, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Plan(context.Background(), snap, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
