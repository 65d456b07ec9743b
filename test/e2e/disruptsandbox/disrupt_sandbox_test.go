// End-to-end comparison of `kubectl karpctl disrupt --dry-run` with the real Karpenter v1.15.0 (kwok
// build) of the sandbox: the dry run's commands while Karpenter is held back by consolidateAfter,
// then what Karpenter does once the timers are released.
package disruptsandbox

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var sb *sandbox.Sandbox

func TestMain(m *testing.M) { os.Exit(sandbox.Main(m, sandbox.Options{}, &sb)) }

const pool = "consolidate"

// consolidatingPool: compute types, on-demand, WhenEmptyOrUnderutilized, every node may go at once,
// but consolidateAfter 1h holds Karpenter back until the test releases it.
func consolidatingPool() *unstructured.Unstructured {
	req := func(key string, values ...any) any {
		return map[string]any{"key": key, "operator": "In", "values": values}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": pool},
		"spec": map[string]any{
			"template": map[string]any{"spec": map[string]any{
				"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
				"requirements": []any{req("karpenter.sh/capacity-type", "on-demand"), req("kubernetes.io/arch", "amd64"),
					req("kubernetes.io/os", "linux"), req("karpenter.kwok.sh/instance-family", "c")},
				"expireAfter": "Never",
			}},
			"disruption": map[string]any{"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1h", "budgets": []any{map[string]any{"nodes": "100%"}}},
		},
	}}
}

// workload is one pod of app on the consolidate pool; big ones keep to a node each.
func workload(t *testing.T, ctx context.Context, app, cpu string, big bool, annotations map[string]string) {
	t.Helper()
	d := sandbox.Workload{Name: app, Replicas: 1, CPU: cpu, Memory: "256Mi", NodeSelector: map[string]string{"karpenter.sh/nodepool": pool}}.Deployment()
	d.Spec.Template.Annotations = annotations
	spec := &d.Spec.Template.Spec
	if big {
		d.Spec.Template.Labels["role"] = "big"
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "big"}},
		}}}}
	} else {
		// Next to app c, where kube-scheduler has room: that node is then underutilized once c goes.
		spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
			Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "c"}}},
		}}}}
	}
	if _, err := sb.Env.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments("default").Delete(context.Background(), app, metav1.DeleteOptions{})
	})
}

// nodeOf waits until app's pod runs and returns its node.
func nodeOf(t *testing.T, ctx context.Context, app string) string {
	t.Helper()
	var node string
	err := harness.Poll(ctx, 500*time.Millisecond, app+" to run", func() (bool, error) {
		pods, err := sb.Env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				node = p.Spec.NodeName
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return node
}

func deleteApp(t *testing.T, ctx context.Context, app string) {
	t.Helper()
	if err := sb.Env.Client.AppsV1().Deployments("default").Delete(ctx, app, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(ctx, 500*time.Millisecond, app+"'s pods to go", func() (bool, error) {
		pods, err := sb.Env.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		return err == nil && len(pods.Items) == 0, err
	}); err != nil {
		t.Fatal(err)
	}
}

func dryRun(t *testing.T, ctx context.Context, args ...string) (engine.DisruptReport, e2e.Result) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), append([]string{"disrupt", "--dry-run", "-o", "json"}, args...)...)
	var rep engine.DisruptReport
	r.Decode(t, &rep)
	if rep.DisruptResult == nil {
		t.Fatalf("exit %d, no result:\n%s", r.Code, r.Stderr)
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("disrupt sent %s", q)
		}
	}
	return rep, r
}

func poolNodeClaims(t *testing.T, ctx context.Context) map[string]sandbox.NodeClaim {
	t.Helper()
	return nodeClaimsOf(t, ctx, pool)
}

// nodeClaimsOf returns np's NodeClaims by node name.
func nodeClaimsOf(t *testing.T, ctx context.Context, np string) map[string]sandbox.NodeClaim {
	t.Helper()
	ncs, err := sb.NodeClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]sandbox.NodeClaim{}
	for _, nc := range ncs {
		if nc.NodePool == np {
			out[nc.Node] = nc
		}
	}
	return out
}

// Three nodes: A empty, B held by a do-not-disrupt pod, C underutilized by one small pod that fits
// nowhere else. The dry run says Karpenter deletes A and replaces C with a cheaper node and that B
// stays for its pod; released, the real Karpenter does exactly that.
func TestDisruptMatchesRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 8*time.Minute)
	if _, err := sb.Dynamic.Resource(sandbox.NodePoolResource).Create(ctx, consolidatingPool(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Dynamic.Resource(sandbox.NodePoolResource).Delete(context.Background(), pool, metav1.DeleteOptions{})
	})

	workload(t, ctx, "a", "6", true, nil)
	workload(t, ctx, "b", "7500m", true, map[string]string{"karpenter.sh/do-not-disrupt": "true"})
	workload(t, ctx, "c", "6", true, nil)
	nodeA, nodeB, nodeC := nodeOf(t, ctx, "a"), nodeOf(t, ctx, "b"), nodeOf(t, ctx, "c")
	workload(t, ctx, "small", "500m", false, nil)
	if n := nodeOf(t, ctx, "small"); n != nodeC {
		t.Fatalf("the small pod went to %s, not next to c on %s", n, nodeC)
	}
	deleteApp(t, ctx, "a")
	deleteApp(t, ctx, "c")
	before := poolNodeClaims(t, ctx)
	if len(before) != 3 {
		t.Fatalf("NodeClaims of %s: %+v, want 3", pool, before)
	}

	// Held back by consolidateAfter: nothing now, and why.
	rep, r := dryRun(t, ctx)
	if r.Code != cli.ExitOK || len(rep.Commands) != 0 {
		t.Errorf("with consolidateAfter 1h: exit %d, commands %+v", r.Code, rep.Commands)
	}
	for _, s := range rep.Staying {
		if (s.Node == nodeA || s.Node == nodeC) && !strings.Contains(s.Reason, "not Consolidatable yet (consolidateAfter 1h0m0s") {
			t.Errorf("%s stays for %q, want consolidateAfter", s.Node, s.Reason)
		}
	}

	// Once the timers have run out.
	rep, r = dryRun(t, ctx, "--ignore-consolidate-after", "--all")
	if r.Code != cli.ExitUnhealthy || len(rep.Commands) < 2 {
		t.Fatalf("exit %d, commands %+v", r.Code, rep.Commands)
	}
	first := rep.Commands[0]
	if first.Method != "Emptiness" || first.Decision != "delete" || len(first.Candidates) != 1 || first.Candidates[0].Node != nodeA {
		t.Errorf("first command %+v, want Emptiness deleting %s", first, nodeA)
	}
	var replace *engine.DisruptionCommand
	for i, c := range rep.Commands {
		if c.Reason == "Underutilized" && len(c.Candidates) == 1 && c.Candidates[0].Node == nodeC && c.Decision == "replace" {
			replace = &rep.Commands[i]
		}
	}
	if replace == nil || len(replace.Replacements) != 1 {
		t.Fatalf("no command replaces %s: %+v", nodeC, rep.Commands)
	}
	predicted := replace.Replacements[0].InstanceType
	var held bool
	for _, s := range rep.Staying {
		if s.Node == nodeB {
			held = strings.Contains(s.Reason, "do-not-disrupt") && s.Source == "karpenter"
			t.Logf("%s stays: %s (%s)", nodeB, s.Reason, s.Source)
		}
	}
	if !held {
		t.Errorf("%s is not reported held by its do-not-disrupt pod: %+v", nodeB, rep.Staying)
	}
	t.Logf("predicted: delete %s; replace %s (%s) with %s, saving $%.4f/h", nodeA, nodeC, replace.Candidates[0].InstanceType, predicted, replace.SavingsPerHour)

	// Release Karpenter and watch it.
	patch := []byte(`{"spec":{"disruption":{"consolidateAfter":"0s"}}}`)
	if _, err := sb.Dynamic.Resource(sandbox.NodePoolResource).Patch(ctx, pool, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var after map[string]sandbox.NodeClaim
	err := harness.Poll(ctx, time.Second, "Karpenter to consolidate", func() (bool, error) {
		after = poolNodeClaims(t, ctx)
		_, hasA := after[nodeA]
		_, hasC := after[nodeC]
		return !hasA && !hasC && len(after) == 2 && readyAll(after), nil
	})
	if err != nil {
		t.Fatalf("%v; NodeClaims now %+v", err, after)
	}
	if _, ok := after[nodeB]; !ok {
		t.Errorf("Karpenter disrupted the held node %s", nodeB)
	}
	for node, nc := range after {
		if node != nodeB && nc.InstanceType != predicted {
			t.Errorf("Karpenter replaced %s with %s, the dry run said %s", nodeC, nc.InstanceType, predicted)
		}
	}
	if n := nodeOf(t, ctx, "small"); n == nodeC || n == nodeB {
		t.Errorf("the small pod is on %s after consolidation", n)
	}
}

func readyAll(ncs map[string]sandbox.NodeClaim) bool {
	for node, nc := range ncs {
		if node == "" || !nc.Ready {
			return false
		}
	}
	return true
}

const driftPool = "drift"

// driftingPool: compute types, no consolidation, and a budget that allows drifted nodes to go only
// when open is set.
func driftingPool(label string, open bool) *unstructured.Unstructured {
	np := consolidatingPool()
	np.SetName(driftPool)
	drifted := "0"
	if open {
		drifted = "100%"
	}
	_ = unstructured.SetNestedField(np.Object, map[string]any{"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never",
		"budgets": []any{map[string]any{"nodes": drifted, "reasons": []any{"Drifted"}}}}, "spec", "disruption")
	_ = unstructured.SetNestedStringMap(np.Object, map[string]string{"rev": label}, "spec", "template", "metadata", "labels")
	return np
}

func drifted(ctx context.Context, name string) (bool, error) {
	u, err := sb.Dynamic.Resource(sandbox.NodeClaimResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == "Drifted" && m["status"] == "True" {
			return true, nil
		}
	}
	return false, nil
}

// A changed NodePool template makes its NodeClaim drift while a Drifted budget of 0 holds Karpenter
// back. The dry run says the node stays for that budget, and, with the budget opened in a -f
// what-if, that Drift replaces it; the budget opened for real, Karpenter does exactly that.
func TestDisruptDriftMatchesRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 6*time.Minute)
	res := sb.Dynamic.Resource(sandbox.NodePoolResource)
	if _, err := res.Create(ctx, driftingPool("1", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = res.Delete(context.Background(), driftPool, metav1.DeleteOptions{}) })
	d := sandbox.Workload{Name: "drifter", Replicas: 1, CPU: "3", Memory: "256Mi", NodeSelector: map[string]string{"karpenter.sh/nodepool": driftPool}}.Deployment()
	if _, err := sb.Env.Client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments("default").Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
	node := nodeOf(t, ctx, "drifter")
	var claim sandbox.NodeClaim
	for n, nc := range nodeClaimsOf(t, ctx, driftPool) {
		if n == node {
			claim = nc
		}
	}
	if claim.Name == "" {
		t.Fatalf("no NodeClaim for %s", node)
	}

	// Change the template: Karpenter marks the NodeClaim Drifted, the budget holds it.
	cur, err := res.Get(ctx, driftPool, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedStringMap(cur.Object, map[string]string{"rev": "2"}, "spec", "template", "metadata", "labels")
	if _, err := res.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(ctx, 500*time.Millisecond, claim.Name+" to drift", func() (bool, error) { return drifted(ctx, claim.Name) }); err != nil {
		t.Fatal(err)
	}
	rep, r := dryRun(t, ctx)
	var stay engine.NodeStay
	for _, s := range rep.Staying {
		if s.Node == node {
			stay = s
		}
	}
	if !strings.Contains(stay.Reason, `NodePool "drift"'s disruption budgets allow no Drifted disruptions now`) {
		t.Errorf("exit %d; %s stays for %q, want the Drifted budget", r.Code, node, stay.Reason)
	}

	// What if the budget were open?
	open := driftingPool("2", true)
	manifest, err := open.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	file := t.TempDir() + "/drift-open.json"
	if err := os.WriteFile(file, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, r = dryRun(t, ctx, "-f", file)
	if r.Code != cli.ExitUnhealthy || len(rep.Commands) == 0 {
		t.Fatalf("exit %d, commands %+v", r.Code, rep.Commands)
	}
	c := rep.Commands[0]
	if c.Method != "Drift" || c.Decision != "replace" || len(c.Candidates) != 1 || c.Candidates[0].Node != node || len(c.Replacements) != 1 {
		t.Fatalf("command %+v, want Drift replacing %s", c, node)
	}
	predicted := c.Replacements[0].InstanceType

	// Open it for real.
	patch := []byte(`{"spec":{"disruption":{"budgets":[{"nodes":"100%","reasons":["Drifted"]}]}}}`)
	if _, err := res.Patch(ctx, driftPool, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	var after map[string]sandbox.NodeClaim
	if err := harness.Poll(ctx, time.Second, "Karpenter to replace the drifted node", func() (bool, error) {
		after = nodeClaimsOf(t, ctx, driftPool)
		_, old := after[node]
		return !old && len(after) == 1 && readyAll(after), nil
	}); err != nil {
		t.Fatalf("%v; NodeClaims now %+v", err, after)
	}
	for _, nc := range after {
		if nc.InstanceType != predicted {
			t.Errorf("Karpenter replaced the drifted node with %s, the dry run said %s", nc.InstanceType, predicted)
		}
	}
}
