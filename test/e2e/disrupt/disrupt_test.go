// End-to-end tests of `kubectl karpctl disrupt --dry-run` on a real kube-apiserver with Karpenter's
// CRDs: Karpenter nodes and NodeClaims as a reconciled cluster has them, read live (GETs only,
// nothing changed) and from a dump of the same objects offline.
package disrupt

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

var (
	sceneOnce sync.Once
	sceneErr  error
	dyn       dynamic.Interface
)

// karpenterNode creates a node of NodePool "default" launched as a kwok c-4x, and its NodeClaim with
// the status Karpenter writes (launched, registered, initialized, Consolidatable).
func karpenterNode(ctx context.Context, name string) error {
	labels := map[string]string{
		"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c-4x-amd64-linux", "karpenter.sh/capacity-type": "on-demand",
		"karpenter.sh/registered": "true", "karpenter.sh/initialized": "true",
	}
	if _, err := harness.NewBuilder(env.Client).CreateNode(ctx, harness.NodeSpec{Name: name, Zone: "test-zone-a", CPU: "4", Memory: "8Gi", NotKwok: true, Labels: labels}); err != nil {
		return err
	}
	n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	n.Spec.ProviderID, n.Spec.Taints = "kwok://"+name, nil
	if _, err := env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return err
	}
	claimLabels := map[string]any{"topology.kubernetes.io/zone": "test-zone-a", "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}
	for k, v := range labels {
		claimLabels[k] = v
	}
	nc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": map[string]any{"name": name, "labels": claimLabels},
		"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
			"requirements": []any{map[string]any{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []any{"c-4x-amd64-linux"}}},
		},
	}}
	got, err := dyn.Resource(sandbox.NodeClaimResource).Create(ctx, nc, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	res := map[string]any{"cpu": "4", "memory": "8Gi", "pods": "110"}
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, c := range []string{"Launched", "Registered", "Initialized", "Consolidatable", "Ready"} {
		conds = append(conds, map[string]any{"type": c, "status": "True", "reason": c, "message": "", "lastTransitionTime": now})
	}
	got.Object["status"] = map[string]any{"providerID": "kwok://" + name, "nodeName": name, "capacity": res, "allocatable": res, "conditions": conds}
	_, err = dyn.Resource(sandbox.NodeClaimResource).UpdateStatus(ctx, got, metav1.UpdateOptions{})
	return err
}

// scene: NodePool "default" consolidating when empty or underutilized, nodes "idle" (empty) and
// "busy" (a 3-CPU pod of a ReplicaSet).
func scene(ctx context.Context, t *testing.T) {
	t.Helper()
	harness.Need(t, env)
	sceneOnce.Do(func() {
		if dyn, sceneErr = dynamic.NewForConfig(env.Config); sceneErr != nil {
			return
		}
		if sceneErr = sandbox.InstallCRDs(ctx, dyn); sceneErr != nil {
			return
		}
		if sceneErr = sandbox.CreateReadyNodePool(ctx, dyn, "default", 0); sceneErr != nil {
			return
		}
		patch := []byte(`{"spec":{"disruption":{"consolidationPolicy":"WhenEmptyOrUnderutilized","consolidateAfter":"0s","budgets":[{"nodes":"100%"}]}}}`)
		if _, sceneErr = dyn.Resource(sandbox.NodePoolResource).Patch(ctx, "default", types.MergePatchType, patch, metav1.PatchOptions{}); sceneErr != nil {
			return
		}
		for _, n := range []string{"idle", "busy"} {
			if sceneErr = karpenterNode(ctx, n); sceneErr != nil {
				return
			}
		}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default", OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "app", UID: "3f6e1b8e-0000-4000-8000-000000000001", Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{NodeName: "busy", AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3"), corev1.ResourceMemory: resource.MustParse("1Gi")}}}}},
		}
		_, sceneErr = env.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
	})
	if sceneErr != nil {
		t.Fatal(sceneErr)
	}
}

func decode(t *testing.T, r e2e.Result) engine.DisruptReport {
	t.Helper()
	var rep engine.DisruptReport
	r.Decode(t, &rep)
	if rep.DisruptResult == nil {
		t.Fatalf("exit %d, no result:\n%s", r.Code, r.Stderr)
	}
	return rep
}

// nodeResource lists nodes through the dynamic client: these are not kwok's, so their
// resourceVersions hold still and can be compared.
var nodeResource = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// resourceVersions of everything disrupt reads.
func resourceVersions(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	return e2e.ResourceVersions(ctx, t, env.Client, dyn, nodeResource, sandbox.NodePoolResource, sandbox.NodeClaimResource)
}

func TestDisruptLiveReadsOnly(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	before := resourceVersions(ctx, t)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "disrupt", "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitUnhealthy || len(rep.Commands) != 1 || rep.Commands[0].Method != "Emptiness" || rep.Commands[0].Candidates[0].Node != "idle" {
		t.Errorf("exit %d commands %+v", r.Code, rep.Commands)
	}
	if rep.Mode != "live" || rep.Totals.KarpenterNodes != 2 || len(rep.Staying) != 1 || rep.Staying[0].Node != "busy" {
		t.Errorf("report %+v", rep)
	}
	var pdbs bool
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("disrupt sent %s", q)
		}
		pdbs = pdbs || strings.Contains(q, "/poddisruptionbudgets")
	}
	if !pdbs {
		t.Error("disrupt did not read PodDisruptionBudgets")
	}
	e2e.Unchanged(t, before, resourceVersions(ctx, t))

	// The table, for people.
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "disrupt")
	for _, want := range []string{"Karpenter would execute now: Emptiness: delete 1 node(s) (Empty)", "Why the other nodes stay", "busy", "Budgets"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.Stdout)
		}
	}
	if r.Code != cli.ExitUnhealthy || !strings.Contains(r.Stderr, "Karpenter would delete 1 node(s) now (Emptiness, Empty)") {
		t.Errorf("exit %d stderr %q", r.Code, r.Stderr)
	}
}

// The same objects dumped (as `kubectl get -o yaml` would) give the same decision offline; without
// their status, the NodeClaims' conditions are unknown and --ignore-consolidate-after is suggested.
func TestDisruptOffline(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	var docs []string
	add := func(obj any) {
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(y))
	}
	for _, res := range []struct {
		gvr  string
		list func() ([]unstructured.Unstructured, error)
	}{
		{"nodepools", func() ([]unstructured.Unstructured, error) {
			l, err := dyn.Resource(sandbox.NodePoolResource).List(ctx, metav1.ListOptions{})
			return l.Items, err
		}},
		{"nodeclaims", func() ([]unstructured.Unstructured, error) {
			l, err := dyn.Resource(sandbox.NodeClaimResource).List(ctx, metav1.ListOptions{})
			return l.Items, err
		}},
	} {
		items, err := res.list()
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			add(o.Object)
		}
	}
	for _, name := range []string{"idle", "busy"} {
		n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}
		n.ManagedFields = nil
		add(n)
	}
	p, err := env.Client.CoreV1().Pods("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	p.ManagedFields = nil
	add(p)
	dump := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(dump, []byte(strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, "", "disrupt", "--offline", "-f", dump, "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitUnhealthy || rep.Mode != "offline" || len(rep.Commands) != 1 || rep.Commands[0].Candidates[0].Node != "idle" {
		t.Errorf("offline: exit %d, %+v", r.Code, rep.Commands)
	}
	if len(r.Requests) != 0 {
		t.Errorf("offline sent %d requests", len(r.Requests))
	}

	// Without status.
	var bare []string
	for _, d := range docs {
		if strings.Contains(d, "kind: NodeClaim") {
			d = d[:strings.Index(d, "\nstatus:")+1]
		}
		bare = append(bare, d)
	}
	if err := os.WriteFile(dump, []byte(strings.Join(bare, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = decode(t, e2e.Karpctl(ctx, t, "", "disrupt", "--offline", "-f", dump, "-o", "json"))
	if len(rep.Commands) != 0 || len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0].Message, "--ignore-consolidate-after") {
		t.Errorf("bare NodeClaims: %+v %+v", rep.Commands, rep.Warnings)
	}
}

func TestDisruptBadInput(t *testing.T) {
	ctx := e2e.Context(t, time.Minute)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"disrupt", "--dry-run=false"}, "karpctl never disrupts nodes"},
		{[]string{"disrupt", "--offline"}, "--offline needs -f"},
		{[]string{"disrupt", "--chunk-size", "0"}, "--chunk-size must be positive"},
		{[]string{"disrupt", "--catalog", "nope"}, "--catalog"},
	} {
		r := e2e.Karpctl(ctx, t, "", c.args...)
		if r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || len(r.Requests) != 0 {
			t.Errorf("%v: exit %d, %d requests, stderr %q (want one line with %q)", c.args, r.Code, len(r.Requests), r.Stderr, c.want)
		}
	}
	// A cluster without Karpenter nodes: nothing to disrupt, not an error.
	dir := t.TempDir()
	np := `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: empty}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements: []
`
	if err := os.WriteFile(filepath.Join(dir, "np.yaml"), []byte(np), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, "", "disrupt", "--offline", "-f", filepath.Join(dir, "np.yaml"))
	if r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "nothing to disrupt") {
		t.Errorf("no Karpenter nodes: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
