package realkarpenter

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// The probe against the real Karpenter v1.15.0 with the NodePool as production clusters have it:
// (a) two busy nodes, (b) two empty nodes consolidation is about to remove (the sandbox NodePool
// consolidates empty nodes after 30 s), (c) no nodes. Each runs leader-kill --probe and zone-outage
// --probe (the leader's zone lost): PASS, the probe's NodeClaim one the new leader created (not one of
// the NodePool's nodes), and nothing left behind. Each cell waits out a real failover (about 16 s) and
// the nodes' launch and consolidation: `make test` runs one drill per NodePool state with nodes (busy:
// leader-kill, empty: zone-outage) and both without; PROBE_MATRIX=full (make reliability) runs both
// everywhere.

// drillsFor are the drills the matrix runs for a NodePool state.
func drillsFor(state string) []string {
	if os.Getenv("PROBE_MATRIX") == "full" || state == "none" {
		return []string{"leader-kill", "zone-outage"}
	}
	return map[string][]string{"busy": {"leader-kill"}, "empty": {"zone-outage"}}[state]
}

// busyWorkloads are two one-pod workloads pinned to two zones, so Karpenter launches two nodes.
var busyWorkloads = []sandbox.Workload{
	{Name: "busy-b", Replicas: 1, CPU: "1", Memory: "1Gi", NodeSelector: map[string]string{corev1.LabelTopologyZone: "test-zone-b"}},
	{Name: "busy-c", Replicas: 1, CPU: "1", Memory: "1Gi", NodeSelector: map[string]string{corev1.LabelTopologyZone: "test-zone-c"}},
}

// twoNodes runs the busy workloads until Karpenter's two nodes run them and returns their NodeClaims,
// their nodes and a function that deletes the workloads.
func twoNodes(ctx context.Context, t *testing.T) (claims, nodes []string, remove func()) {
	t.Helper()
	remove = func() {
		for _, w := range busyWorkloads {
			_ = sb.Env.Client.AppsV1().Deployments("default").Delete(context.WithoutCancel(ctx), w.Name, metav1.DeleteOptions{})
		}
	}
	for _, w := range busyWorkloads {
		if _, err := sb.CreateWorkload(ctx, w); err != nil {
			remove()
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if !harness.WaitFor(wctx, func() bool {
		claims, nodes = nil, nil
		pods, err := sb.Env.Client.CoreV1().Pods("default").List(wctx, metav1.ListOptions{LabelSelector: "app in (busy-b,busy-c)"})
		if err != nil || len(pods.Items) != 2 {
			return false
		}
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning {
				return false
			}
			nodes = append(nodes, p.Spec.NodeName)
		}
		list, err := sb.Dynamic.Resource(sandbox.NodeClaimResource).List(wctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, nc := range list.Items {
			if n, _, _ := unstructured.NestedString(nc.Object, "status", "nodeName"); slices.Contains(nodes, n) {
				claims = append(claims, nc.GetName())
			}
		}
		return len(claims) == 2
	}) {
		remove()
		t.Fatalf("Karpenter did not run the busy workloads on two nodes: claims %v nodes %v", claims, nodes)
	}
	return claims, nodes, remove
}

// emptied deletes the workloads and waits until their pods are gone: the nodes are empty.
func emptied(ctx context.Context, t *testing.T, remove func()) {
	t.Helper()
	remove()
	if !harness.WaitFor(ctx, func() bool {
		pods, err := sb.Env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app in (busy-b,busy-c)"})
		return err == nil && len(pods.Items) == 0
	}) {
		t.Fatal("the busy workloads' pods stayed")
	}
}

// leaderZone is the zone of the node the lease holder runs on.
func leaderZone(ctx context.Context, t *testing.T, ld *sandbox.Leader) string {
	t.Helper()
	pods, err := sb.KarpenterPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Name == ld.Pod {
			n, err := sb.Env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return lease.ZoneOf(n)
		}
	}
	t.Fatalf("leader %s not found", ld.Pod)
	return ""
}

// probeDrill runs leader-kill or zone-outage (the leader's zone) with --probe and checks the PASS:
// the probe's NodeClaim is new, created by the new leader, and the preflight named what Karpenter would
// launch.
func probeDrill(ctx context.Context, t *testing.T, kind, nodePool string, existing []string) *drill.ProbeReport {
	t.Helper()
	ld := steady(ctx, t)
	args := []string{"leader-kill", "--probe", "--yes"}
	if kind == "zone-outage" {
		args = []string{"zone-outage", leaderZone(ctx, t, ld), "--probe", "--yes"}
	}
	d, r := runDrill(ctx, t, args...)
	p := d.Probe
	if r.Code != 0 || d.Result != drill.Pass || p == nil || p.Result != drill.Pass {
		t.Fatalf("%s (%s): exit %d: %s %s; probe %+v\n%s", kind, nodePool, r.Code, d.Result, d.Reason, p, r.Stdout)
	}
	pl := d.Plan.Probe
	if p.NodeClaim == "" || slices.Contains(existing, p.NodeClaim) || p.CreatedBy != d.NewLeader || p.NodeClaimSeconds <= d.FailoverSeconds ||
		pl == nil || pl.PredictedInstanceType == "" || slices.Contains(pl.ExcludedInstanceTypes, p.InstanceType) {
		t.Fatalf("%s (%s): probe %+v plan %+v (existing %v, new leader %s)", kind, nodePool, p, pl, existing, d.NewLeader)
	}
	if !strings.Contains(r.Stdout, "Karpenter would launch "+pl.PredictedInstanceType+" in "+pl.PredictedZone+" for the probe") {
		t.Fatalf("the probe gate does not say what Karpenter would launch:\n%s", r.Stdout)
	}
	// The zone is the cloud provider's pick among those the NodeClaim allows (kwok picks at random).
	if p.InstanceType != pl.PredictedInstanceType || !slices.Contains(pl.PredictedZones, p.Zone) {
		t.Fatalf("%s (%s): launched %s in %s, predicted %s in one of %v", kind, nodePool, p.InstanceType, p.Zone, pl.PredictedInstanceType, pl.PredictedZones)
	}
	t.Logf("%s, NodePool with %s: handover %.3fs, provisioning resumed after %.3fs (%.3fs after the new leader acquired), probe Running after %.3fs on %s in %s (predicted %s in %s; excluded %v)",
		kind, nodePool, d.FailoverSeconds, p.NodeClaimSeconds, p.ResumeSeconds, p.RunningSeconds, p.InstanceType, p.Zone, pl.PredictedInstanceType, pl.PredictedZone, pl.ExcludedInstanceTypes)
	return p
}

func TestRealKarpenterProbeBusyNodes(t *testing.T) {
	sandbox.Need(t, sb)
	for _, kind := range drillsFor("busy") {
		t.Run(kind, func(t *testing.T) {
			ctx := e2e.Context(t, 5*time.Minute)
			claims, _, remove := twoNodes(ctx, t)
			p := probeDrill(ctx, t, kind, "two busy nodes", claims)
			emptied(ctx, t, remove)
			leftBehind(ctx, t, append(claims, p.NodeClaim)...)
		})
	}
}

func TestRealKarpenterProbeEmptyNodes(t *testing.T) {
	sandbox.Need(t, sb)
	for _, kind := range drillsFor("empty") {
		t.Run(kind, func(t *testing.T) {
			ctx := e2e.Context(t, 5*time.Minute)
			claims, _, remove := twoNodes(ctx, t)
			emptied(ctx, t, remove)
			p := probeDrill(ctx, t, kind, "two empty nodes", claims)
			leftBehind(ctx, t, append(claims, p.NodeClaim)...)
		})
	}
}

func TestRealKarpenterProbeNoNodes(t *testing.T) {
	sandbox.Need(t, sb)
	for _, kind := range drillsFor("none") {
		t.Run(kind, func(t *testing.T) {
			ctx := e2e.Context(t, 5*time.Minute)
			leftBehind(ctx, t)
			p := probeDrill(ctx, t, kind, "no nodes", nil)
			leftBehind(ctx, t, p.NodeClaim)
		})
	}
}

// The probe as karpctl used to build it — its NodePool's nodes left out by kubernetes.io/hostname —
// forced in after the preflight: Karpenter refuses it, and the drill FAILs quoting Karpenter's refusal
// as a problem of the probe, not as slow provisioning.
func TestRealKarpenterOldProbeShapeRefused(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	claims, nodes, remove := twoNodes(ctx, t)
	defer remove()
	var hostnames []string
	for _, n := range nodes {
		node, err := sb.Env.Client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hostnames = append(hostnames, node.Labels[corev1.LabelHostname])
	}
	drill.ProbePodHook = func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: hostnames}}}}}}}
	}
	defer func() { drill.ProbePodHook = nil }()
	steady(ctx, t)
	d, r := runDrill(ctx, t, "leader-kill", "--probe", "--yes")
	p := d.Probe
	const refusal = "using label kubernetes.io/hostname is not allowed as it might interfere with the internal provisioning logic"
	if r.Code != 3 || d.Result != drill.Fail || p == nil || p.Result != drill.Fail || !strings.Contains(p.Refusal, refusal) ||
		!strings.HasPrefix(p.Reason, "Karpenter refused the probe: "+refusal) || !strings.Contains(d.Reason, "Karpenter refused the probe") {
		t.Fatalf("exit %d: %s %s; probe %+v\n%s", r.Code, d.Result, d.Reason, p, r.Stdout)
	}
	t.Logf("old probe shape: handover %.3fs, Karpenter refused the probe %.3fs after the action: %s", d.FailoverSeconds, p.RefusedSeconds, p.Refusal)
	emptied(ctx, t, remove)
	leftBehind(ctx, t, claims...)
}
