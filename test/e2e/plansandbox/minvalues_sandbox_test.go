package plansandbox

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// Under Karpenter's default MIN_VALUES_POLICY (Strict), a NodePool asking for more instance families
// than exist provisions nothing: the real Karpenter reports the pod as failed to schedule and
// launches no NodeClaim; plan predicts the pod unschedulable, and explain blocks that NodePool by
// minValues. (With BestEffort the same NodePool provisions: test/e2e/settingssandbox.)
func TestMinValuesStrictLeavesPodPending(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	if err := sb.BusyAndEmpty(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.CreateNodePool(ctx, "strict-minvalues", map[string]any{
		"key": "karpenter.kwok.sh/instance-family", "operator": "Exists", "minValues": int64(50)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "strict-minvalues"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := sb.CreateWorkload(ctx, sandbox.Workload{Namespace: "strict-minvalues", Name: "app", Replicas: 1, CPU: "1", Memory: "1Gi",
		NodeSelector: map[string]string{"karpenter.sh/nodepool": "strict-minvalues"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{})
	})
	msg, err := sb.KarpenterFailedToSchedule(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Karpenter: %s", msg)
	if ncs := claimsOf(ctx, t, "strict-minvalues"); len(ncs) != 0 {
		t.Fatalf("Karpenter launched for a NodePool whose minValues no type set meets: %+v", ncs)
	}

	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "plan", "--dry-run", "-n", d.Namespace, "-o", "json")
	var rep engine.PlanReport
	r.Decode(t, &rep)
	r.OnlyReads(t)
	if r.Code != cli.ExitUnhealthy || rep.Result == nil || rep.Totals.UnschedulablePods != 1 {
		t.Fatalf("plan: exit %d, want the pod unschedulable as Karpenter left it: %s %s", r.Code, r.Stdout, r.Stderr)
	}
	for _, np := range rep.NodePools {
		if np.Name == "strict-minvalues" && len(np.NodeClaims) > 0 {
			t.Errorf("plan launches %+v for strict-minvalues; Karpenter launched nothing", np.NodeClaims)
		}
	}

	r = e2e.Karpctl(ctx, t, sb.Kubeconfig(), "explain", "deployment", "app", "-n", d.Namespace, "-o", "json")
	var ex explain.Report
	r.Decode(t, &ex)
	r.OnlyReads(t)
	if r.Code != cli.ExitUnhealthy || ex.PodExplanation == nil {
		t.Fatalf("explain: exit %d %s", r.Code, r.Stderr)
	}
	var reasons []string
	for _, v := range ex.NodePools {
		if v.Name != "strict-minvalues" {
			continue
		}
		for _, reason := range v.Reasons {
			reasons = append(reasons, string(reason.Kind)+": "+reason.Message+" → "+reason.Change)
		}
		if v.Verdict != explain.VerdictBlocked || !hasKind(v.Reasons, explain.MinValues) {
			t.Errorf("explain: strict-minvalues %s by %v, want Blocked by MinValues", v.Verdict, reasons)
		}
	}
	t.Logf("explain: %s", strings.Join(reasons, "; "))
}

func hasKind(rs []explain.Reason, k explain.Kind) bool {
	for _, r := range rs {
		if r.Kind == k {
			return true
		}
	}
	return false
}
