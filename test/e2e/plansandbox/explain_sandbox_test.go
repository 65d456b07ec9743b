package plansandbox

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// A pod the real Karpenter leaves pending (its NodePool's cpu limit is 1, the pod asks for 2):
// explain gives every NodePool a verdict and the blocked ones their reasons, names the limit that
// would let "capped" take the pod, and — with that limit applied in a -f copy of the NodePool —
// predicts the NodeClaim; applied for real, Karpenter launches that NodeClaim.
func TestExplainChangeMakesKarpenterLaunch(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	if err := sb.BusyAndEmpty(ctx); err != nil { // NodePool "existing": a busy and an empty node
		t.Fatal(err)
	}
	np := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": "capped"},
		"spec": map[string]any{"limits": map[string]any{"cpu": "1"}, "template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
			"requirements": []any{
				map[string]any{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"on-demand"}},
				map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}},
			},
		}}},
	}}
	if _, err := sb.Dynamic.Resource(sandbox.NodePoolResource).Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "explained"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := sb.CreateWorkload(ctx, sandbox.Workload{Namespace: "explained", Name: "app", Replicas: 1, CPU: "2", Memory: "1Gi",
		NodeSelector: map[string]string{"karpenter.sh/nodepool": "capped"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments("explained").Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
	msg, err := sb.KarpenterFailedToSchedule(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Karpenter: %s", msg)
	if ncs := claimsOf(ctx, t, "capped"); len(ncs) != 0 {
		t.Fatalf("Karpenter launched for the capped NodePool before any change: %+v", ncs)
	}

	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "explain", "deployment", "app", "-n", "explained", "-o", "json")
	var rep explain.Report
	r.Decode(t, &rep)
	r.OnlyReads(t)
	if r.Code != cli.ExitUnhealthy || rep.PodExplanation == nil {
		t.Fatalf("explain: exit %d %s", r.Code, r.Stderr)
	}
	var limit *explain.Reason
	for _, v := range rep.NodePools {
		if v.Verdict == "" || (v.Verdict == explain.VerdictBlocked && len(v.Reasons) == 0) {
			t.Errorf("NodePool %s: verdict %q with no reason", v.Name, v.Verdict)
		}
		for i, reason := range v.Reasons {
			if v.Name == "capped" && reason.Kind == explain.Limit {
				limit = &v.Reasons[i]
			}
		}
	}
	if limit == nil || limit.Limits.Cpu().Cmp(resource.MustParse("2")) < 0 {
		t.Fatalf("capped: no cpu limit of at least 2 named: %+v", rep.NodePools)
	}
	t.Logf("explain: %s; change: %s", limit.Message, limit.Change)

	// The change, in a -f copy of the NodePool: explain predicts the NodeClaim.
	got, err := sb.Dynamic.Resource(sandbox.NodePoolResource).Get(ctx, "capped", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cpu := limit.Limits.Cpu().String()
	_ = unstructured.SetNestedField(got.Object, cpu, "spec", "limits", "cpu")
	patched, _ := yaml.Marshal(got.Object)
	file := filepath.Join(t.TempDir(), "capped.yaml")
	if err := os.WriteFile(file, patched, 0o644); err != nil {
		t.Fatal(err)
	}
	r = e2e.Karpctl(ctx, t, sb.Kubeconfig(), "explain", "deployment", "app", "-n", "explained", "-f", file, "-o", "json")
	var after explain.Report
	r.Decode(t, &after)
	if r.Code != cli.ExitOK || after.Outcome.NodeClaim == nil || after.Outcome.NodePool != "capped" {
		t.Fatalf("explain with the change: exit %d, outcome %+v", r.Code, after.Outcome)
	}
	predicted := after.Outcome.NodeClaim

	// Applied for real: Karpenter launches what explain predicted.
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"limits": map[string]any{"cpu": cpu}}})
	if _, err := sb.Dynamic.Resource(sandbox.NodePoolResource).Patch(ctx, "capped", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		ncs := claimsOf(ctx, t, "capped")
		if len(ncs) == 1 && ncs[0].Ready {
			if ncs[0].InstanceType != predicted.InstanceType {
				t.Errorf("Karpenter launched %s, explain predicted %s", ncs[0].InstanceType, predicted.InstanceType)
			}
			t.Logf("explain predicted %s; Karpenter launched %+v", predicted.InstanceType, ncs[0])
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Karpenter launched nothing for capped after the change: %+v", ncs)
		case <-time.After(time.Second):
		}
	}
}

func claimsOf(ctx context.Context, t *testing.T, pool string) []sandbox.NodeClaim {
	t.Helper()
	all, err := sb.NodeClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []sandbox.NodeClaim
	for _, nc := range all {
		if nc.NodePool == pool {
			out = append(out, nc)
		}
	}
	return out
}
