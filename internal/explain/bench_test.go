package explain

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// benchSnapshot is a production-shaped cluster: 1,000 busy 32-CPU nodes with 20 pods each, 5,000
// pending pods (plain, zone-spread and anti-affinity), three open NodePools, a limited tainted
// NodePool and a heavier arm64-only one, and the pod to explain: 40 CPU on amd64, which only a new
// node can take and which two NodePools block.
func benchSnapshot() *engine.Snapshot {
	snap := &engine.Snapshot{NodePools: []*karpv1.NodePool{
		nodePool("default", func(np *karpv1.NodePool) { np.Spec.Template.Spec.Requirements = np.Spec.Template.Spec.Requirements[:1] }),
		nodePool("amd64", requiring(req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))),
		nodePool("on-demand"),
		nodePool("general", limited("8"), tainted("team", "a")),
		nodePool("arm", weighted(10), requiring(req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"))),
	}}
	zones := []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}
	for i := 0; i < 1000; i++ {
		n := node(fmt.Sprintf("node-%04d", i), "default", "c-32x-amd64-linux", "32")
		n.Labels[corev1.LabelTopologyZone] = zones[i%len(zones)]
		snap.Nodes = append(snap.Nodes, n)
		for j := 0; j < 20; j++ {
			p := pod(fmt.Sprintf("bound-%04d-%02d", i, j), "1")
			p.Labels["app"] = fmt.Sprintf("svc-%d", j)
			p.Spec.NodeName, p.UID, p.Status.Phase = n.Name, types.UID(fmt.Sprintf("bound-%d-%d", i, j)), corev1.PodRunning
			snap.Pods = append(snap.Pods, p)
		}
	}
	sizes := []string{"100m", "250m", "500m", "1", "2"}
	for i := 0; i < 5000; i++ {
		p := pod(fmt.Sprintf("p-%05d", i), sizes[i%len(sizes)])
		switch i % 10 {
		case 0, 1:
			app := fmt.Sprintf("spread-%d", i%40)
			p.Labels["app"] = app
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone,
				WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}}}
		case 2:
			antiAffinity(fmt.Sprintf("anti-%d", i%20), corev1.LabelHostname)(p)
		}
		snap.PendingPods = append(snap.PendingPods, p)
	}
	snap.PendingPods = append(snap.PendingPods, pod("big", "40", selecting(corev1.LabelArchStable, "amd64"), tolerating("team", "a")))
	return snap
}

// BenchmarkExplainVsPlan explains one pod of the large cluster and plans the same snapshot, and
// reports explain's time as a multiple of plan's (the target is ≤ 1.5: the counterfactual runs
// schedule one pod over the state built once).
func BenchmarkExplainVsPlan(b *testing.B) {
	snap := benchSnapshot()
	ctx := context.Background()
	var planTime, explainTime time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := engine.Plan(ctx, snap, engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		planTime += time.Since(start)
		start = time.Now()
		e, err := Pod(ctx, snap, "default", "big", engine.Options{})
		if err != nil {
			b.Fatal(err)
		}
		explainTime += time.Since(start)
		if e.Outcome.Kind != OutcomeNewNodeClaim || len(verdictOf(b, e, "general").Reasons) == 0 || len(verdictOf(b, e, "arm").Reasons) == 0 {
			b.Fatalf("explanation %+v (plan: %d new nodes)", e.Outcome, res.Totals.NewNodes)
		}
	}
	b.ReportMetric(planTime.Seconds()/float64(b.N), "plan-s/op")
	b.ReportMetric(explainTime.Seconds()/float64(b.N), "explain-s/op")
	b.ReportMetric(float64(explainTime)/float64(planTime), "explain/plan")
}
