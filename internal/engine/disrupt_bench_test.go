package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/controllers/disruption"
)

// disruptionSnapshot300 is 300 Karpenter c-8x nodes of a WhenEmptyOrUnderutilized NodePool over the
// kwok zones, each with 20 pods of 100m (a quarter full: consolidation has work to do), 6,000 pods.
func disruptionSnapshot300(b *testing.B) *Snapshot {
	zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
	snap := &Snapshot{Live: true, NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "10%")}}
	snap.NodePools[0].StatusConditions().SetTrue("Ready")
	for i := 0; i < 300; i++ {
		m := karpenterNode(b, fmt.Sprintf("node-%03d", i), "default", "c-8x-amd64-linux", zones[i%len(zones)])
		m.add(snap)
		for j := 0; j < 20; j++ {
			p := boundPod(fmt.Sprintf("p-%03d-%02d", i, j), m.node.Name, "100m", withLabels("app", fmt.Sprintf("svc-%d", j)))
			p.UID = types.UID(fmt.Sprintf("uid-%d-%d", i, j))
			snap.Pods = append(snap.Pods, p)
		}
	}
	return snap
}

// BenchmarkDisruptOverhead compares engine.Disrupt with Karpenter's own disruption pass alone on the
// same snapshot: GetCandidatesWithTotals, BuildDisruptionBudgetMapping and ComputeCommands of each
// method in order until one has a command, over a simulation built outside the timed part. Target:
// disrupt ≤ 1.2× in wall time and peak heap.
//
//	go test -run '^$' -bench DisruptOverhead -benchtime 1x ./internal/engine
func BenchmarkDisruptOverhead(b *testing.B) {
	src := CatalogSource(kwok(b), false)
	snap := disruptionSnapshot300(b)
	var disruptTime, rawTime time.Duration
	var disruptPeak, rawPeak uint64
	for i := 0; i < b.N; i++ {
		var res *DisruptResult
		var err error
		start := time.Now()
		disruptPeak = max(disruptPeak, peakHeap(func() { res, err = Disrupt(context.Background(), snap, src, DisruptOptions{}) }))
		disruptTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Commands) == 0 {
			b.Fatal("no command: the benchmark must make Karpenter decide something")
		}

		sim, err := newSimulation(context.Background(), snap, Options{InstanceTypes: src, keepStatic: true})
		if err != nil {
			b.Fatal(err)
		}
		d := newDisrupter(sim)
		var cmds []disruption.Command
		start = time.Now()
		rawPeak = max(rawPeak, peakHeap(func() { cmds, err = rawDisruptionPass(d) }))
		rawTime += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if len(cmds) != len(res.Commands) {
			b.Fatalf("Karpenter alone gave %d commands, Disrupt %d", len(cmds), len(res.Commands))
		}
		b.Logf("%s %s %d candidates; %d nodes stay", res.Commands[0].Method, res.Commands[0].Decision, len(res.Commands[0].Candidates), len(res.Staying))
	}
	b.ReportMetric(float64(disruptTime)/float64(rawTime), "disrupt/karpenter")
	b.ReportMetric(disruptTime.Seconds()/float64(b.N), "disrupt-s/op")
	b.ReportMetric(rawTime.Seconds()/float64(b.N), "karpenter-s/op")
	b.ReportMetric(float64(disruptPeak)/float64(rawPeak), "peak-heap-disrupt/karpenter")
	b.ReportMetric(float64(disruptPeak)/(1<<20), "disrupt-peak-heap-MiB")
	b.ReportMetric(float64(rawPeak)/(1<<20), "karpenter-peak-heap-MiB")
}

// rawDisruptionPass is the disruption controller's loop over its methods, without karpctl's summary.
func rawDisruptionPass(d *disrupter) ([]disruption.Command, error) {
	for _, m := range d.methods {
		cands, totals, err := disruption.GetCandidatesWithTotals(d.ctx, d.sim.cluster, d.sim.client, d.sim.recorder, d.clock, d.sim.cloud, m.ShouldDisrupt, m.Class(), d.queue, d.clusterCost)
		if err != nil {
			return nil, err
		}
		if len(cands) == 0 {
			continue
		}
		if setter, ok := m.(disruption.NodePoolTotalsSetter); ok {
			setter.SetNodePoolTotals(totals)
		}
		budgets, err := disruption.BuildDisruptionBudgetMapping(d.ctx, d.sim.cluster, d.clock, d.sim.client, d.sim.cloud, d.sim.recorder, m.Reason())
		if err != nil {
			return nil, err
		}
		cmds, err := m.ComputeCommands(d.ctx, budgets, cands...)
		if err != nil {
			return nil, err
		}
		var out []disruption.Command
		for _, c := range cmds {
			if c.Decision() != disruption.NoOpDecision {
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	return nil, nil
}
