// End-to-end comparison of `kubectl karpctl plan` with the real Karpenter (kwok build) started with
// settings other than its defaults — PREFERENCE_POLICY=Ignore, MIN_VALUES_POLICY=BestEffort and the
// NodeOverlay gate — read by karpctl from the Karpenter Deployment: each prediction is compared with
// the NodeClaims the real Karpenter then creates. The cluster has a NodePool with a busy and an empty
// node first (inMotion); each test has its own NodePool and namespace on top.
package settingssandbox

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var (
	sb              *sandbox.Sandbox
	overlayResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1alpha1", Resource: "nodeoverlays"}
)

func TestMain(m *testing.M) {
	os.Exit(sandbox.Main(m, sandbox.Options{KarpenterEnv: map[string]string{
		"PREFERENCE_POLICY": "Ignore", "MIN_VALUES_POLICY": "BestEffort", "FEATURE_GATES": "NodeOverlay=true",
	}}, &sb))
}

// inMotion gives the cluster a NodePool with a busy and an empty node the real Karpenter launched,
// once for the package whatever test runs first (sandbox.BusyAndEmpty).
func inMotion(ctx context.Context, t *testing.T) {
	t.Helper()
	if err := sb.BusyAndEmpty(ctx); err != nil {
		t.Fatal(err)
	}
}

// nodePool creates a NodePool of the sandbox's KWOKNodeClass with extra requirements and waits until
// the real Karpenter marks it Ready.
func nodePool(ctx context.Context, t *testing.T, name string, reqs ...map[string]any) {
	t.Helper()
	if err := sb.CreateNodePool(ctx, name, reqs...); err != nil {
		t.Fatal(err)
	}
}

// deployment is n replicas of cpu each, in its own namespace, for NodePool pool.
func deployment(ctx context.Context, t *testing.T, ns, pool string, n int32, cpu string) *appsv1.Deployment {
	t.Helper()
	if _, err := sb.Env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := sandbox.Workload{Namespace: ns, Name: "app", Replicas: n, CPU: cpu, Memory: "1Gi",
		NodeSelector: map[string]string{"karpenter.sh/nodepool": pool}}.Deployment()
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	return d
}

// planAndApply plans the Deployment (live, -f), applies it, waits for the real Karpenter and returns
// the plan's NodeClaims for pool and the real ones.
func planAndApply(ctx context.Context, t *testing.T, d *appsv1.Deployment, pool string) (*engine.PlanReport, []engine.NodeClaimPlan, []sandbox.NodeClaim) {
	t.Helper()
	rep, _ := plan(ctx, t, d)
	var planned []engine.NodeClaimPlan
	for _, np := range rep.NodePools {
		if np.Name == pool {
			planned = append(planned, np.NodeClaims...)
		}
	}
	if _, err := sb.Env.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments(d.Namespace).Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
	return rep, planned, provisioned(ctx, t, d, pool)
}

// plan plans the Deployment, not yet applied, from a -f file on top of the live cluster (GETs only),
// with extra flags, and returns the report and the exit code.
func plan(ctx context.Context, t *testing.T, d *appsv1.Deployment, flags ...string) (*engine.PlanReport, int) {
	t.Helper()
	manifest, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), append([]string{"plan", "--dry-run", "-n", d.Namespace, "-f", file, "-o", "json"}, flags...)...)
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if rep.Result == nil {
		t.Fatalf("plan: exit %d %s", r.Code, r.Stderr)
	}
	r.OnlyReads(t)
	return &rep, r.Code
}

// provisioned waits until every replica of d is bound to a node and the NodeClaims of pool are Ready,
// and returns them.
func provisioned(ctx context.Context, t *testing.T, d *appsv1.Deployment, pool string) []sandbox.NodeClaim {
	t.Helper()
	for {
		got, err := sb.Env.Client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pending, err := sb.PendingPods(ctx, d.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		all, err := sb.NodeClaims(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var real []sandbox.NodeClaim
		ready := true
		for _, nc := range all {
			if nc.NodePool == pool {
				real = append(real, nc)
				ready = ready && nc.Ready
			}
		}
		pods, err := sb.Env.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound := 0 // a pod just created is neither bound nor yet marked pending
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				bound++
			}
		}
		if got.Spec.Replicas != nil && bound == int(*got.Spec.Replicas) && len(pods.Items) == bound && len(pending) == 0 && len(real) > 0 && ready {
			return real
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Karpenter did not provision for %s/%s: %d pending, NodeClaims %+v", d.Namespace, d.Name, len(pending), real)
		case <-time.After(time.Second):
		}
	}
}

// setting is the value plan read for name, and where from.
func setting(rep *engine.PlanReport, name string) string {
	for _, s := range rep.KarpenterSettings.Settings {
		if s.Name == name {
			return s.Value + " (" + s.Source + ")"
		}
	}
	return ""
}

// PREFERENCE_POLICY=Ignore: a preferred hostname anti-affinity does not spread the replicas, so
// Karpenter packs them onto one node, and the plan says so.
func TestPreferencePolicyIgnore(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	inMotion(ctx, t)
	nodePool(ctx, t, "prefs")
	d := deployment(ctx, t, "prefs", "prefs", 3, "500m")
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: d.Spec.Selector}}},
	}}
	rep, planned, real := planAndApply(ctx, t, d, "prefs")
	if s := setting(rep, "PREFERENCE_POLICY"); !strings.HasPrefix(s, "Ignore (Deployment ") {
		t.Errorf("plan ran with PREFERENCE_POLICY %q, want Ignore from the Deployment", s)
	}
	t.Logf("plan %+v; Karpenter %+v", planned, real)
	if len(planned) != 1 || len(real) != 1 || planned[0].InstanceType != real[0].InstanceType {
		t.Errorf("plan: %d NodeClaims, Karpenter: %d; want one each of the same type", len(planned), len(real))
	}
}

// MIN_VALUES_POLICY=BestEffort: a NodePool asking for 50 instance families (kwok has a handful) still
// provisions (Karpenter relaxes minValues), and the plan predicts that NodeClaim; under Strict
// (Karpenter's default, --karpenter-setting) the plan predicts none.
func TestMinValuesBestEffort(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	inMotion(ctx, t)
	nodePool(ctx, t, "minvalues", map[string]any{"key": "karpenter.kwok.sh/instance-family", "operator": "Exists", "minValues": int64(50)})
	d := deployment(ctx, t, "minvalues", "minvalues", 1, "1")
	srep, code := plan(ctx, t, d, "--karpenter-setting", "MIN_VALUES_POLICY=Strict")
	if srep.Totals.UnschedulablePods != 1 || code != cli.ExitUnhealthy {
		t.Errorf("Strict: exit %d, want the pod unschedulable: %+v", code, srep.Result)
	}
	rep, planned, real := planAndApply(ctx, t, d, "minvalues")
	if s := setting(rep, "MIN_VALUES_POLICY"); !strings.HasPrefix(s, "BestEffort (Deployment ") {
		t.Errorf("plan ran with MIN_VALUES_POLICY %q, want BestEffort from the Deployment", s)
	}
	t.Logf("plan %+v; Karpenter %+v", planned, real)
	if len(planned) != 1 || len(real) != 1 || planned[0].InstanceType != real[0].InstanceType {
		t.Errorf("plan: %d NodeClaims, Karpenter: %d; want one each of the same type", len(planned), len(real))
	}
}

// NodeOverlay=true: an overlay that makes the c family 100 times dearer in Karpenter's view changes
// the type Karpenter ranks first; the type launched is the one the plan says the provider launches.
// With the overlay removed, the c family ranks first again, and again the plan names what Karpenter
// launches. Each replica holds a host port, so the second Deployment needs a NodeClaim of its own.
func TestNodeOverlayPrice(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	inMotion(ctx, t)
	nodePool(ctx, t, "overlay")
	overlay(ctx, t, "dear-c", map[string]any{"priceAdjustment": "+10000%", "requirements": []any{
		map[string]any{"key": "karpenter.sh/nodepool", "operator": "In", "values": []any{"overlay"}},
		map[string]any{"key": "karpenter.kwok.sh/instance-family", "operator": "In", "values": []any{"c"}},
	}})
	d := withHostPort(deployment(ctx, t, "overlay", "overlay", 1, "1"))
	_, planned, real := planAndApply(ctx, t, d, "overlay")
	t.Logf("with the overlay: plan %+v; Karpenter %+v", planned, real)
	if len(planned) != 1 || len(real) != 1 {
		t.Fatalf("plan: %d NodeClaims, Karpenter: %d; want one each", len(planned), len(real))
	}
	if strings.HasPrefix(planned[0].InstanceType, "c-") {
		t.Errorf("with the c family 100 times dearer, the plan still ranks %s first", planned[0].InstanceType)
	}
	sameLaunch(t, planned[0], real[0])

	if err := sb.Dynamic.Resource(overlayResource).Delete(ctx, "dear-c", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// Karpenter's overlay controller rebuilds its whole store from the overlays it lists: once it has
	// validated an overlay created after the delete, its store no longer holds dear-c.
	overlay(ctx, t, "after-dear-c", map[string]any{"priceAdjustment": "+1%", "requirements": []any{
		map[string]any{"key": "karpenter.sh/nodepool", "operator": "In", "values": []any{"no-such-nodepool"}},
	}})
	d2 := withHostPort(deployment(ctx, t, "overlay-removed", "overlay", 1, "1"))
	_, planned, all := planAndApply(ctx, t, d2, "overlay")
	real = slices.DeleteFunc(all, func(nc sandbox.NodeClaim) bool { return nc.Name == real[0].Name })
	t.Logf("without the overlay: plan %+v; Karpenter %+v", planned, real)
	if len(planned) != 1 || len(real) != 1 {
		t.Fatalf("plan: %d new NodeClaims, Karpenter: %d; want one each", len(planned), len(real))
	}
	if !strings.HasPrefix(planned[0].InstanceType, "c-") {
		t.Errorf("without the overlay the plan ranks %s first, want the c family (the cheapest)", planned[0].InstanceType)
	}
	sameLaunch(t, planned[0], real[0])
}

// overlay creates a NodeOverlay and waits until Karpenter's overlay controller has validated it, which
// it does in the same pass that refills its instance-type store.
func overlay(ctx context.Context, t *testing.T, name string, spec map[string]any) {
	t.Helper()
	ov := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay", "metadata": map[string]any{"name": name}, "spec": spec,
	}}
	if _, err := sb.Dynamic.Resource(overlayResource).Create(ctx, ov, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Dynamic.Resource(overlayResource).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	for {
		got, err := sb.Dynamic.Resource(overlayResource).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "ValidationSucceeded" && m["status"] == "True" {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Karpenter did not validate NodeOverlay %s: %v", name, got.Object["status"])
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// withHostPort makes every replica hold host port 18080, so no two share a node.
func withHostPort(d *appsv1.Deployment) *appsv1.Deployment {
	c := &d.Spec.Template.Spec.Containers[0]
	c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: 18080, HostPort: 18080, Protocol: corev1.ProtocolTCP})
	return d
}

// sameLaunch: the type the real Karpenter launched is the one the plan says the provider launches.
func sameLaunch(t *testing.T, p engine.NodeClaimPlan, real sandbox.NodeClaim) {
	t.Helper()
	if launched := cmp.Or(p.LaunchInstanceType, p.InstanceType); launched != real.InstanceType {
		t.Errorf("Karpenter launched %s; the plan ranks %s first and says the provider launches %s", real.InstanceType, p.InstanceType, launched)
	}
}
