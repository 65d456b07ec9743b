// End-to-end tests of `kubectl karpctl plan --dry-run` on a real kube-apiserver with Karpenter's CRDs
// installed (the sandbox's embedded copies of the pinned sigs.k8s.io/karpenter's), and the live-load
// benchmark.
package plan

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Kwok: true}, &env)) }

var (
	crdsOnce sync.Once
	crdsErr  error
	dyn      dynamic.Interface
)

// karpenterAPI installs Karpenter's CRDs and a Ready NodePool "default" with its KWOKNodeClass, once
// per package.
func karpenterAPI(ctx context.Context, t testing.TB) {
	t.Helper()
	harness.Need(t, env)
	crdsOnce.Do(func() {
		if dyn, crdsErr = dynamic.NewForConfig(env.Config); crdsErr != nil {
			return
		}
		if crdsErr = sandbox.InstallCRDs(ctx, dyn); crdsErr != nil {
			return
		}
		crdsErr = sandbox.CreateReadyNodePool(ctx, dyn, "default", 0)
	})
	if crdsErr != nil {
		t.Fatal(crdsErr)
	}
}

type podSpec struct {
	ns, name, node, app, cpu, mem string
	antiAffinity                  bool
}

func createPod(ctx context.Context, t testing.TB, s podSpec) {
	t.Helper()
	if err := newPod(ctx, s); err != nil {
		t.Fatal(err)
	}
}

func podObject(s podSpec) *corev1.Pod {
	p := harness.PodObject(harness.PodSpec{Namespace: s.ns, Name: s.name, Node: s.node, Labels: map[string]string{"app": s.app}, CPU: s.cpu, Memory: s.mem})
	if s.antiAffinity {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": s.app}},
			}},
		}}
	}
	return p
}

func newPod(ctx context.Context, s podSpec) error {
	_, err := env.Client.CoreV1().Pods(s.ns).Create(ctx, podObject(s), metav1.CreateOptions{})
	return err
}

// untaint removes the node.kubernetes.io/not-ready taint the apiserver's TaintNodesByCondition
// admission puts on new nodes; without a node-lifecycle controller nothing else would, and Karpenter
// rightly never places pods onto a not-ready node.
func untaint(ctx context.Context, c kubernetes.Interface, name string) error {
	n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var keep []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Key != corev1.TaintNodeNotReady {
			keep = append(keep, t)
		}
	}
	if len(keep) == len(n.Spec.Taints) {
		return nil
	}
	n.Spec.Taints = keep
	_, err = c.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
	return err
}

// state records every object's resourceVersion the plan could touch.
func state(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	return e2e.ResourceVersions(ctx, t, env.Client, dyn, sandbox.NodePoolResource, sandbox.NodeClaimResource, sandbox.NodeClassResource)
}

// Nodes' resourceVersions move with kwok's heartbeats, so nodes are compared by name and spec only.
func nodeNames(ctx context.Context, t *testing.T) string {
	t.Helper()
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range nodes.Items {
		names = append(names, n.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func decode(t *testing.T, r e2e.Result) engine.PlanReport {
	t.Helper()
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if rep.Result == nil {
		t.Fatalf("exit %d, stdout is not a plan (no result):\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	return rep
}

var sceneOnce sync.Once

// scene: one system node per zone a/b with a bound pod, three pending web replicas (hostname
// anti-affinity, 1 CPU each) in "shop", and one pod too big for any instance type in "batch".
func scene(ctx context.Context, t *testing.T) {
	karpenterAPI(ctx, t)
	sceneOnce.Do(func() {
		b := harness.NewBuilder(env.Client)
		for _, ns := range []string{"shop", "batch", "system"} {
			b.Namespace(ctx, t, ns)
		}
		for _, n := range []harness.NodeSpec{{Name: "system-a", Zone: "test-zone-a", CPU: "4", Memory: "16Gi"}, {Name: "system-b", Zone: "test-zone-b", CPU: "4", Memory: "16Gi"}} {
			b.Node(ctx, t, n)
			if err := untaint(ctx, env.Client, n.Name); err != nil {
				t.Fatal(err)
			}
		}
		createPod(ctx, t, podSpec{ns: "system", name: "agent-a", node: "system-a", app: "agent", cpu: "3500m", mem: "1Gi"})
		createPod(ctx, t, podSpec{ns: "system", name: "agent-b", node: "system-b", app: "agent", cpu: "3500m", mem: "1Gi"})
		for _, n := range []string{"web-0", "web-1", "web-2"} {
			createPod(ctx, t, podSpec{ns: "shop", name: n, app: "web", cpu: "1", mem: "1Gi", antiAffinity: true})
		}
		createPod(ctx, t, podSpec{ns: "batch", name: "huge", app: "huge", cpu: "5000", mem: "1Gi"})
		createPod(ctx, t, podSpec{ns: "batch", name: "small", app: "small", cpu: "250m", mem: "256Mi"})
		// kwok turns the bound pods Running; wait, so that no resourceVersion moves during a test.
		for _, name := range []string{"agent-a", "agent-b"} {
			if err := harness.Poll(ctx, 100*time.Millisecond, "pod system/"+name+" to run", func() (bool, error) {
				p, err := env.Client.CoreV1().Pods("system").Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return p.Status.Phase == corev1.PodRunning, nil
			}); err != nil {
				t.Fatalf("pod system/%s not Running: %v", name, err)
			}
		}
	})
}

// Acceptance 3: the plan from the live cluster, which is left exactly as it was; only GETs are sent.
func TestPlanLiveReadsOnly(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	before, nodesBefore := state(ctx, t), nodeNames(ctx, t)

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "--dry-run", "-n", "shop", "-o", "json")
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := decode(t, r)
	if rep.Mode != "live" || rep.Totals.PendingPods != 3 || rep.Totals.NewNodes != 3 || rep.Totals.PodsOnNewNodes != 3 || rep.Totals.UnschedulablePods != 0 {
		t.Errorf("plan totals %+v", rep.Totals)
	}
	if len(rep.NodePools) != 1 || rep.NodePools[0].Name != "default" || len(rep.NodePools[0].NodeClaims) != 3 {
		t.Errorf("node pools %+v", rep.NodePools)
	}
	for _, w := range rep.Warnings {
		t.Errorf("unexpected warning %+v", w)
	}
	r.OnlyReads(t)
	t.Logf("%d requests: %s", len(r.Requests), strings.Join(r.Requests, "\n"))

	// Human output and all namespaces: the huge pod is unschedulable, exit 3.
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan")
	if r.Code != cli.ExitUnhealthy || !strings.Contains(r.Stdout, "Unschedulable (1 pods)") || !strings.Contains(r.Stdout, "batch/huge") ||
		!strings.Contains(r.Stdout, "1 pods fit onto 1 existing nodes") || !strings.Contains(r.Stderr, "1 of 5 pending pods are unschedulable") {
		t.Errorf("all namespaces: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r.OnlyReads(t)

	e2e.Unchanged(t, before, state(ctx, t))
	if nodesAfter := nodeNames(ctx, t); nodesBefore != nodesAfter {
		t.Errorf("nodes %s -> %s", nodesBefore, nodesAfter)
	}
	if ncs, _ := dyn.Resource(sandbox.NodeClaimResource).List(ctx, metav1.ListOptions{}); len(ncs.Items) != 0 {
		t.Errorf("%d NodeClaims exist after a dry run", len(ncs.Items))
	}
}

// --zone-down: the system node in test-zone-a goes, its pod becomes pending, no claim uses the zone.
func TestPlanLiveZoneDown(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "--zone-down", "test-zone-a", "-o", "json")
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := decode(t, r)
	if rep.Totals.PendingPods != 4 || rep.Totals.UnschedulablePods != 0 {
		t.Errorf("totals %+v: want the 3 web pods and system/agent-a", rep.Totals)
	}
	var placed []string
	for _, np := range rep.NodePools {
		for _, nc := range np.NodeClaims {
			placed = append(placed, nc.Pods...)
			for _, z := range append([]string{nc.Zone}, nc.Zones...) {
				if z == "test-zone-a" {
					t.Errorf("claim in the zone that is down: %+v", nc)
				}
			}
		}
	}
	if !strings.Contains(strings.Join(placed, ","), "system/agent-a") {
		t.Errorf("agent-a not re-planned: %v", placed)
	}
	r.OnlyReads(t)
}

// -f on top of the live snapshot, and --scale of a live Deployment.
func TestPlanLiveWhatIfs(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	dir := t.TempDir()
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
        - name: api
          image: nginx
          resources: {requests: {cpu: "2", memory: 2Gi}}
`
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-f", filepath.Join(dir, "api.yaml"), "-o", "json")
	if rep := decode(t, r); r.Code != cli.ExitOK || rep.Totals.PendingPods != 5 {
		t.Errorf("-f on live: exit %d, totals %+v", r.Code, rep.Totals)
	}
	r.OnlyReads(t)

	// A Deployment "web" owning the three pending pods (no controller-manager runs, so it makes none).
	three := int32(3)
	_, err := env.Client.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: podObject(podSpec{app: "web", cpu: "1", mem: "1Gi", antiAffinity: true}).Spec},
		},
	}, metav1.CreateOptions{})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "--scale", "deployment/web=5", "-o", "json")
	if rep := decode(t, r); r.Code != cli.ExitOK || rep.Totals.PendingPods != 5 || rep.Totals.NewNodes != 5 {
		t.Errorf("scale up: exit %d, totals %+v", r.Code, rep.Totals)
	}
	r.OnlyReads(t)
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "--scale", "deployment/web=1", "-o", "json")
	if rep := decode(t, r); r.Code != cli.ExitOK || rep.Totals.PendingPods != 1 {
		t.Errorf("scale down: exit %d, totals %+v", r.Code, rep.Totals)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "--scale", "deployment/nope=1")
	if r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, "no Deployment shop/nope") {
		t.Errorf("unknown workload: exit %d %q", r.Code, r.Stderr)
	}
}

// A cluster Karpenter of another version than the bundled scheduler is warned about.
func TestPlanWarnsOnVersionSkew(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	harness.NewBuilder(env.Client).Namespace(ctx, t, "karpenter")
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "karpenter", Image: "public.ecr.aws/karpenter/controller:1.14.2"})
	if _, err := env.Client.AppsV1().Deployments("karpenter").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Client.AppsV1().Deployments("karpenter").Delete(ctx, d.Name, metav1.DeleteOptions{}) }()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-o", "json")
	rep := decode(t, r)
	if rep.KarpenterVersion != "1.14.2" || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0].Message, "1.14.2") {
		t.Errorf("karpenterVersion %q warnings %+v", rep.KarpenterVersion, rep.Warnings)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop")
	if !strings.Contains(r.Stdout, "Warnings") || !strings.Contains(r.Stdout, "the cluster runs Karpenter 1.14.2") {
		t.Errorf("table lacks the version warning:\n%s", r.Stdout)
	}
}

// A broken manifest is reported the same way by every command that reads -f: FILE:LINE: document N,
// one line, exit 2, before any request; a directory is read with -R only.
func TestBadManifestsSayWhere(t *testing.T) {
	ctx := e2e.Context(t, time.Minute)
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.yaml")
	doc := "---\n# Source: karpenter/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: karpenter\n   bad: indent\n"
	if err := os.WriteFile(bad, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	want := bad + ":7: document 1: malformed YAML: mapping values are not allowed in this context"
	nested := filepath.Join(dir, "rendered")
	if err := os.MkdirAll(filepath.Join(nested, "templates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nested, "templates", "broken.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan", "--offline", "-f", bad}, want},
		{[]string{"disrupt", "--offline", "-f", bad}, want},
		{[]string{"instance-types", "--offline", "-f", bad}, want},
		{[]string{"audit-topology", "-f", bad}, want},
		{[]string{"plan", "--offline", "-f", nested}, nested + ": no .json, .yaml or .yml files (-R reads its subdirectories too)"},
		{[]string{"audit-topology", "-R", "-f", nested}, filepath.Join(nested, "templates", "broken.yaml") + ":7: document 1: malformed YAML"},
	} {
		r := e2e.Karpctl(ctx, t, "", c.args...)
		if line := strings.TrimSpace(r.Stderr); r.Code != cli.ExitUsage || !strings.Contains(line, c.want) || strings.Contains(line, "\n") || len(r.Requests) != 0 {
			t.Errorf("%v: exit %d, %d requests, stderr %q, want one line with %q", c.args, r.Code, len(r.Requests), r.Stderr, c.want)
		}
	}
}
