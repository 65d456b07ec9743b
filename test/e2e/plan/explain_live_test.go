package plan

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// explainLive runs `explain ARGS -o json` against the live cluster and checks it only read.
func explainLive(ctx context.Context, t *testing.T, args ...string) (int, explain.Report) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"explain", "-o", "json"}, args...)...)
	var rep explain.Report
	if r.Code == cli.ExitOK || r.Code == cli.ExitUnhealthy {
		r.Decode(t, &rep)
	}
	if rep.PodExplanation == nil {
		t.Fatalf("explain %v: exit %d, no explanation: %s", args, r.Code, r.Stderr)
	}
	r.OnlyReads(t)
	return r.Code, rep
}

// explain on a live cluster, each outcome: a Deployment without pods is explained by a pod of its
// template; a pod that shares a new NodeClaim names the pods it shares it with; a pod that fits on an
// existing node is placed there. The objects exist only during the test (a tainted node only these
// pods tolerate), so the package's other plans do not see them.
func TestExplainLiveOutcomes(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	karpenterAPI(ctx, t)
	const ns = "explain-live"
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, ns)
	// Without a controller-manager a deleted namespace keeps its objects: delete them one by one.
	t.Cleanup(func() {
		ctx := context.Background()
		_ = env.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{})
		_ = env.Client.AppsV1().Deployments(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	})

	// No controller-manager runs here: the Deployment never gets a pod.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tpl"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "tpl"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "tpl"}},
			Spec: podObject(podSpec{ns: ns, name: "x", app: "tpl", cpu: "1", mem: "1Gi"}).Spec},
	}}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, rep := explainLive(ctx, t, "deployment", "tpl", "-n", ns)
	if code != cli.ExitOK || rep.Pod != ns+"/tpl-template" || rep.Outcome.Kind != explain.OutcomeNewNodeClaim || rep.Outcome.NodePool != "default" {
		t.Errorf("Deployment without pods: exit %d, pod %s, outcome %+v; want its template's pod on a new NodeClaim of default", code, rep.Pod, rep.Outcome)
	}

	for _, name := range []string{"pair-0", "pair-1"} {
		createPod(ctx, t, podSpec{ns: ns, name: name, app: "pair", cpu: "1", mem: "1Gi"})
	}
	code, rep = explainLive(ctx, t, "pod", "pair-0", "-n", ns)
	if code != cli.ExitOK || rep.Outcome.Kind != explain.OutcomeNewNodeClaim || len(rep.Outcome.SharedWith) == 0 {
		t.Fatalf("pair-0: exit %d, outcome %+v; want a new NodeClaim shared with other pending pods", code, rep.Outcome)
	}
	// The pods it shares with are those plan puts on the same NodeClaim.
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "--dry-run", "-o", "json")
	var shared []string
	for _, np := range decode(t, r).NodePools {
		for _, nc := range np.NodeClaims {
			if slices.Contains(nc.Pods, ns+"/pair-0") {
				shared = slices.DeleteFunc(slices.Clone(nc.Pods), func(p string) bool { return p == ns+"/pair-0" })
			}
		}
	}
	if !slices.Equal(shared, rep.Outcome.SharedWith) {
		t.Errorf("explain: pair-0 shares with %v; plan: with %v", rep.Outcome.SharedWith, shared)
	}

	taint := corev1.Taint{Key: "karpctl-e2e", Value: "explain", Effect: corev1.TaintEffectNoSchedule}
	b.Node(ctx, t, harness.NodeSpec{Name: "explain-room", Zone: "test-zone-c", CPU: "8", Memory: "32Gi", Taints: []corev1.Taint{taint},
		Labels: map[string]string{"karpctl-e2e/room": "explain"}})
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Nodes().Delete(context.Background(), "explain-room", metav1.DeleteOptions{})
	})
	if err := untaint(ctx, env.Client, "explain-room"); err != nil {
		t.Fatal(err)
	}
	p := podObject(podSpec{ns: ns, name: "roomy", app: "roomy", cpu: "2", mem: "1Gi"})
	p.Spec.Tolerations = []corev1.Toleration{{Key: taint.Key, Operator: corev1.TolerationOpEqual, Value: taint.Value, Effect: taint.Effect}}
	p.Spec.NodeSelector = map[string]string{"karpctl-e2e/room": "explain"}
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, rep = explainLive(ctx, t, "pod", "roomy", "-n", ns)
	if code != cli.ExitOK || rep.Outcome.Kind != explain.OutcomeExistingNode || rep.Outcome.Node != "explain-room" {
		t.Errorf("roomy: exit %d, outcome %+v; want the existing node explain-room", code, rep.Outcome)
	}
}
