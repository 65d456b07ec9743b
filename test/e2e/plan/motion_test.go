package plan

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// A cluster in motion (issue: one stray pod must not void the whole answer). Each test creates one
// kind of object caught mid-change for real, plans the "motion" namespace's pending pods before and
// after, and requires the same NodeClaims where Karpenter ignores the stray objects, plus one warning
// line with a count and an example. Every test removes what it created.

const motionNS = "motion"

// motionScene: a node "motion-full" (not kwok-managed, so nothing changes it behind the test) nearly
// filled by a bound pod, and two pending 600m pods with hostname anti-affinity in "motion" (too big
// for the shared scene's system nodes). All of it is removed when the test ends, so that the other
// plan tests never see it.
func motionScene(ctx context.Context, t *testing.T) {
	scene(ctx, t)
	b := harness.NewBuilder(env.Client)
	for _, ns := range []string{motionNS, "load"} {
		b.Namespace(ctx, t, ns)
	}
	strayNode(ctx, t, harness.NodeSpec{Name: "motion-full", Zone: "test-zone-c", CPU: "2", Memory: "8Gi"})
	deleteNodeAtEnd(t, "motion-full")
	createPod(ctx, t, podSpec{ns: "system", name: "motion-hog", node: "motion-full", app: "hog", cpu: "1900m", mem: "1Gi"})
	deletePodAtEnd(t, "system", "motion-hog")
	for _, n := range []string{"m-0", "m-1"} {
		createPod(ctx, t, podSpec{ns: motionNS, name: n, app: "m", cpu: "600m", mem: "512Mi", antiAffinity: true})
		deletePodAtEnd(t, motionNS, n)
	}
}

// strayNode creates a node kwok does not manage, Ready as created, without the not-ready taint, and
// removes it when the test ends (unless keep).
func strayNode(ctx context.Context, t *testing.T, s harness.NodeSpec) {
	t.Helper()
	s.NotKwok = true
	harness.NewBuilder(env.Client).Node(ctx, t, s)
	if err := untaint(ctx, env.Client, s.Name); err != nil {
		t.Fatal(err)
	}
}

func deleteNodeAtEnd(t *testing.T, name string) {
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// deletePodAtEnd removes a pod for good: finalizers dropped, no grace period.
func deletePodAtEnd(t *testing.T, ns, name string) {
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = env.Client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		_ = env.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
}

// holdInTerminating creates the pod with a finalizer and deletes it: it stays, Terminating.
func holdInTerminating(ctx context.Context, t *testing.T, s podSpec, markUnschedulable bool) {
	t.Helper()
	p := podObject(s)
	p.Finalizers = []string{"karpctl.io/hold"}
	got, err := env.Client.CoreV1().Pods(s.ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deletePodAtEnd(t, s.ns, s.name)
	if markUnschedulable {
		got.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, LastTransitionTime: metav1.Now()}}
		if _, err := env.Client.CoreV1().Pods(s.ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Client.CoreV1().Pods(s.ns).Delete(ctx, s.name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func motionPlan(ctx context.Context, t *testing.T, args ...string) (engine.PlanReport, e2e.Result) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"plan", "-n", motionNS, "-o", "json"}, args...)...)
	if r.Code != cli.ExitOK && r.Code != cli.ExitUnhealthy {
		t.Fatalf("plan failed: exit %d\n%s", r.Code, r.Stderr)
	}
	r.OnlyReads(t)
	return decode(t, r), r
}

// placements is what a plan decides, warnings aside: each NodeClaim's type, zones and pods, and the
// pods put onto existing nodes.
func placements(rep engine.PlanReport) []string {
	var out []string
	for _, np := range rep.NodePools {
		for _, nc := range np.NodeClaims {
			out = append(out, fmt.Sprintf("claim %s %s %v %s", np.Name, nc.InstanceType, nc.Zones, strings.Join(nc.Pods, ",")))
		}
	}
	for _, en := range rep.ExistingNodes {
		out = append(out, "existing "+en.Node+" "+strings.Join(en.Pods, ","))
	}
	return out
}

func requireWarning(t *testing.T, rep engine.PlanReport, parts ...string) {
	t.Helper()
	var all []string
	for _, w := range rep.Warnings {
		all = append(all, w.Message)
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w.Message, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no warning with %q; warnings:\n%s", parts, strings.Join(all, "\n"))
}

func samePlacements(t *testing.T, got, want engine.PlanReport) {
	t.Helper()
	if !reflect.DeepEqual(placements(got), placements(want)) {
		t.Errorf("plan changed:\n got %v\nwant %v", placements(got), placements(want))
	}
}

func TestPlanMotionPodsOnDeletedNodes(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, _ := motionPlan(ctx, t)

	strayNode(ctx, t, harness.NodeSpec{Name: "load-0", Zone: "test-zone-a", CPU: "64", Memory: "256Gi"})
	deleteNodeAtEnd(t, "load-0")
	for i := range 3 {
		name := fmt.Sprintf("p-0-%d", i)
		createPod(ctx, t, podSpec{ns: "load", name: name, node: "load-0", app: "m", cpu: "1", mem: "1Gi"})
		deletePodAtEnd(t, "load", name)
	}
	if err := env.Client.CoreV1().Nodes().Delete(ctx, "load-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, err := env.Client.CoreV1().Pods("load").Get(ctx, "p-0-0", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "load-0" {
		t.Fatalf("the pod did not outlive its node: %v", err)
	}

	got, r := motionPlan(ctx, t)
	if r.Code != cli.ExitOK {
		t.Errorf("exit %d, want 0: every pending pod still fits", r.Code)
	}
	samePlacements(t, got, base)
	requireWarning(t, got, "3 pods are bound to nodes that no longer exist (e.g. load/p-0-0 on load-0)", "pod garbage collector")
}

func TestPlanMotionTerminatingPods(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, _ := motionPlan(ctx, t)

	// Bound to the full node and Terminating: Karpenter still counts it there.
	holdInTerminating(ctx, t, podSpec{ns: "load", name: "draining", node: "motion-full", app: "d", cpu: "50m", mem: "10Mi"}, false)
	// Pending and Terminating: Karpenter provisions only for the one kube-scheduler had marked.
	holdInTerminating(ctx, t, podSpec{ns: motionNS, name: "going-marked", app: "g", cpu: "500m", mem: "512Mi"}, true)
	holdInTerminating(ctx, t, podSpec{ns: motionNS, name: "going-unmarked", app: "g", cpu: "500m", mem: "512Mi"}, false)

	got, _ := motionPlan(ctx, t)
	all := strings.Join(placements(got), " ")
	if !strings.Contains(all, "motion/going-marked") || strings.Contains(all, "going-unmarked") || got.Totals.PendingPods != base.Totals.PendingPods+1 {
		t.Errorf("pending %d (base %d), placements %v: want going-marked planned, going-unmarked not", got.Totals.PendingPods, base.Totals.PendingPods, placements(got))
	}
	requireWarning(t, got, "1 bound pods are terminating (e.g. load/draining on motion-full)")
	requireWarning(t, got, "1 pending pods are being deleted but still marked Unschedulable (e.g. motion/going-marked)")
	requireWarning(t, got, "1 pending pods are being deleted and were never marked Unschedulable (e.g. motion/going-unmarked)")
}

// nodeClaim creates a NodeClaim of NodePool "default" with the status Karpenter writes at launch.
func nodeClaim(ctx context.Context, t *testing.T, name, nodeName string, finalizer bool) {
	t.Helper()
	labels := map[string]any{
		"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c-4x-amd64-linux",
		"topology.kubernetes.io/zone": "test-zone-d", "karpenter.sh/capacity-type": "on-demand",
		"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
	}
	meta := map[string]any{"name": name, "labels": labels}
	if finalizer {
		meta["finalizers"] = []any{"karpenter.sh/termination"}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim", "metadata": meta,
		"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
			"requirements": []any{map[string]any{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []any{"c-4x-amd64-linux"}}},
		},
	}}
	got, err := dyn.Resource(sandbox.NodeClaimResource).Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		_, _ = dyn.Resource(sandbox.NodeClaimResource).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		_ = dyn.Resource(sandbox.NodeClaimResource).Delete(ctx, name, metav1.DeleteOptions{})
	})
	res := map[string]any{"cpu": "4", "memory": "16Gi", "pods": "110"}
	now := time.Now().UTC().Format(time.RFC3339)
	got.Object["status"] = map[string]any{
		"providerID": "kwok://" + name, "nodeName": nodeName, "capacity": res, "allocatable": res,
		"conditions": []any{map[string]any{"type": "Launched", "status": "True", "reason": "Launched", "message": "", "lastTransitionTime": now}},
	}
	if _, err := dyn.Resource(sandbox.NodeClaimResource).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestPlanMotionNodeClaimsWithoutNodes(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, _ := motionPlan(ctx, t)

	// Being deleted, its node already gone: Karpenter places nothing on it.
	nodeClaim(ctx, t, "motion-going", "", true)
	if err := dyn.Resource(sandbox.NodeClaimResource).Delete(ctx, "motion-going", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := motionPlan(ctx, t)
	samePlacements(t, got, base)
	requireWarning(t, got, "1 NodeClaims are being deleted (e.g. motion-going)")

	// Launched, no Node yet: in-flight capacity Karpenter puts a pending pod on instead of a new node.
	nodeClaim(ctx, t, "motion-launch", "", false)
	got, _ = motionPlan(ctx, t)
	requireWarning(t, got, "1 NodeClaims are launching, with no Node yet (e.g. motion-launch)")
	var onClaim int
	for _, en := range got.ExistingNodes {
		if en.Node == "motion-launch" {
			onClaim = len(en.Pods)
		}
	}
	if onClaim != 1 || got.Totals.NewNodes != base.Totals.NewNodes-1 {
		t.Errorf("%d pods on the in-flight NodeClaim, %d new nodes (base %d): want 1 and one fewer", onClaim, got.Totals.NewNodes, base.Totals.NewNodes)
	}
}

func TestPlanMotionNodesMidChange(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, _ := motionPlan(ctx, t)

	managed := map[string]string{"karpenter.sh/nodepool": "default", "node.kubernetes.io/instance-type": "c-1x-amd64-linux", "karpenter.sh/initialized": "true"}
	// Cordoned, with the taint the node lifecycle controller adds: big enough for every pending pod.
	strayNode(ctx, t, harness.NodeSpec{Name: "motion-cordoned", Zone: "test-zone-a", CPU: "16", Memory: "64Gi", Unschedulable: true,
		Taints: []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}})
	deleteNodeAtEnd(t, "motion-cordoned")
	// A Karpenter node whose NodeClaim is gone, too small for any pending pod; and one not registered.
	for _, name := range []string{"motion-unowned", "motion-unregistered"} {
		strayNode(ctx, t, harness.NodeSpec{Name: name, Zone: "test-zone-b", CPU: "100m", Memory: "128Mi", Labels: managed})
		deleteNodeAtEnd(t, name)
	}
	n, err := env.Client.CoreV1().Nodes().Get(ctx, "motion-unowned", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.ProviderID = "kwok://motion-unowned"
	if _, err := env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	got, _ := motionPlan(ctx, t)
	samePlacements(t, got, base)
	requireWarning(t, got, "nodes are cordoned or not Ready (e.g. motion-cordoned)")
	requireWarning(t, got, "1 Karpenter nodes have no NodeClaim (e.g. motion-unowned)")
	requireWarning(t, got, "1 Karpenter nodes are not registered yet (e.g. motion-unregistered: no providerID)")
}

// A PVC deleted under a pending pod: Karpenter rejects that pod in validation and plans the others.
func TestPlanMotionDeletedPVC(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	const ns = "motion-pvc"
	harness.NewBuilder(env.Client).Namespace(ctx, t, ns)
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
	}
	if _, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db", "web"} {
		p := podObject(podSpec{ns: ns, name: name, app: name, cpu: "250m", mem: "256Mi"})
		if name == "db" {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		}
		if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		deletePodAtEnd(t, ns, name)
	}
	// The pvc-protection finalizer would keep it while the pod exists; drop it: the claim is gone.
	if _, err := env.Client.CoreV1().PersistentVolumeClaims(ns).Patch(ctx, "data", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", ns, "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitUnhealthy || rep.Totals.PendingPods != 2 || rep.Totals.UnschedulablePods != 1 {
		t.Fatalf("exit %d totals %+v: want exit 3 with db unschedulable and web planned", r.Code, rep.Totals)
	}
	if g := rep.Unschedulable[0]; g.Stage != "validation" || strings.Join(g.Pods, ",") != ns+"/db" || !strings.Contains(g.Reason, `"data" not found`) {
		t.Errorf("unschedulable %+v: want db rejected in validation for its missing claim", rep.Unschedulable)
	}
	r.OnlyReads(t)
}

// A DaemonSet half-way through a rollout: Karpenter sizes new nodes for its newest pod.
func TestPlanMotionDaemonSetRollingOut(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, _ := motionPlan(ctx, t)

	const ns = "motion-ds"
	harness.NewBuilder(env.Client).Namespace(ctx, t, ns)
	labels := map[string]string{"app": "agent"}
	tmpl := podObject(podSpec{app: "agent", cpu: "100m", mem: "64Mi"})
	tmpl.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: tmpl.Spec}},
	}
	got, err := env.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().DaemonSets(ns).Delete(context.Background(), "agent", metav1.DeleteOptions{})
	})
	got.Status = appsv1.DaemonSetStatus{ObservedGeneration: got.Generation, DesiredNumberScheduled: 4, CurrentNumberScheduled: 4, UpdatedNumberScheduled: 1}
	if _, err := env.Client.AppsV1().DaemonSets(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Its newest pod, on the full node, as the DaemonSet controller would have bound it.
	p := podObject(podSpec{ns: ns, name: "agent-new", node: "motion-full", app: "agent", cpu: "100m", mem: "64Mi"})
	p.Spec.Tolerations = tmpl.Spec.Tolerations
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: got.UID, Controller: ptr.To(true)}}
	if _, err := env.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deletePodAtEnd(t, ns, "agent-new")

	rep, _ := motionPlan(ctx, t)
	requireWarning(t, rep, "1 DaemonSets are rolling out (e.g. motion-ds/agent: 1 of 4 pods updated)")
	if len(rep.NodePools) == 0 || len(base.NodePools) == 0 || len(rep.NodePools[0].NodeClaims) != len(base.NodePools[0].NodeClaims) {
		t.Fatalf("claims %v, base %v", placements(rep), placements(base))
	}
	for i, nc := range rep.NodePools[0].NodeClaims {
		if want := base.NodePools[0].NodeClaims[i].CPURequestMilli + 100; nc.CPURequestMilli != want {
			t.Errorf("claim %d requests %dm, want %dm (the DaemonSet's 100m on top)", i, nc.CPURequestMilli, want)
		}
	}
}

// Forbidden optional kinds degrade to warnings that name the permission; the plan is the same.
func TestPlanMotionForbiddenKinds(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	motionScene(ctx, t)
	base, baseRun := motionPlan(ctx, t)
	kubeconfig, err := env.RestrictedKubeconfig(ctx, "plan-no-storage",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes", "persistentvolumeclaims", "persistentvolumes"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.sh"}, Resources: []string{"nodepools", "nodeclaims"}, Verbs: []string{"list"}})
	if err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, kubeconfig, "plan", "-n", motionNS, "-o", "json")
	got := decode(t, r)
	if r.Code != baseRun.Code {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	samePlacements(t, got, base)
	requireWarning(t, got, "daemonsets.apps not read (forbidden: grant list on daemonsets.apps at cluster scope)")
	requireWarning(t, got, "storageclasses.storage.k8s.io not read (forbidden")
	requireWarning(t, got, "csinodes.storage.k8s.io not read (forbidden")
	r.OnlyReads(t)
}
