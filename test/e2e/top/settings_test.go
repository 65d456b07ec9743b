package top

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/test/e2e"
)

// top predicts with the settings of the cluster's Karpenter, as plan does: a NodePool whose
// minValues no instance type list can meet leaves its pod unschedulable under Karpenter's default
// Strict policy, and gets a NodeClaim when the Deployment sets MIN_VALUES_POLICY=BestEffort through
// a ConfigMap key. The header says so, and the ConfigMap is read with one GET.
func TestTopRunsWithKarpentersSettings(t *testing.T) {
	ctx := e2e.Context(t, 3*time.Minute)
	cluster(ctx, t)
	const ns, pool = "karpenter-besteffort", "top-picky"
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, ns)
	createPickyNodePool(ctx, t, pool)
	if _, err := env.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter-settings"}, Data: map[string]string{"minValues": "BestEffort"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns})
	c := &d.Spec.Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: "MIN_VALUES_POLICY", ValueFrom: &corev1.EnvVarSource{
		ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "karpenter-settings"}, Key: "minValues"}}})
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().Deployments(ns).Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
	picky := harness.PodObject(harness.PodSpec{Namespace: "shop", Name: "picky", CPU: "1", Memory: "1Gi"})
	picky.Spec.NodeSelector = map[string]string{karpv1.NodePoolLabelKey: pool}
	if _, err := env.Client.CoreV1().Pods("shop").Create(ctx, picky, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Pods("shop").Delete(context.Background(), "picky", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	})

	planOf := func(s *top.Screen) string {
		for _, p := range s.Pending {
			if p.Name == "picky" {
				return p.Plan
			}
		}
		return ""
	}
	// Karpenter's defaults: the cluster's own Karpenter sets nothing.
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "-o", "json", "--karpenter-namespace", "karpenter")
	var strict top.Screen
	r.Decode(t, &strict)
	if r.Code != 0 || !strings.HasPrefix(planOf(&strict), "unschedulable:") || strict.KarpenterSettings == nil || strict.KarpenterSettings.Deployment != "karpenter/karpenter" {
		t.Errorf("Strict: exit %d, picky's plan %q, settings %+v; want it unschedulable", r.Code, planOf(&strict), strict.KarpenterSettings)
	}

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "-o", "json", "--karpenter-namespace", ns)
	var best top.Screen
	r.Decode(t, &best)
	if want := "new NodeClaim of NodePool " + pool; r.Code != 0 || !strings.HasPrefix(planOf(&best), want) {
		t.Errorf("BestEffort: exit %d, picky's plan %q; want %q", r.Code, planOf(&best), want)
	}
	if best.KarpenterSettings == nil {
		t.Fatalf("BestEffort: the screen carries no settings")
	}
	found := false
	for _, s := range best.KarpenterSettings.Settings {
		found = found || (s.Name == "MIN_VALUES_POLICY" && s.Value == "BestEffort" && s.Source == "ConfigMap "+ns+"/karpenter-settings key minValues")
	}
	if !found {
		t.Errorf("settings %+v lack MIN_VALUES_POLICY=BestEffort from the ConfigMap", best.KarpenterSettings)
	}
	gets := 0
	for _, q := range r.RequestsTo(env.Server()) {
		if strings.HasPrefix(q, "GET /api/v1/namespaces/"+ns+"/configmaps/karpenter-settings") {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("the ConfigMap was read %d times, want one GET", gets)
	}
	r.OnlyReads(t)

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "--karpenter-namespace", ns)
	want := "Settings: MIN_VALUES_POLICY=BestEffort (ConfigMap " + ns + "/karpenter-settings key minValues) [Deployment " + ns + "/karpenter, read at start]"
	if r.Code != 0 || !strings.Contains(strings.Join(strings.Fields(r.Stdout), " "), want) {
		t.Errorf("header lacks %q:\n%s", want, r.Stdout)
	}
}

// createPickyNodePool creates a Ready kwok NodePool whose instance-type minValues the kwok catalog cannot meet,
// deleted when the test ends.
func createPickyNodePool(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	np := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
			"requirements": []any{
				map[string]any{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"on-demand"}},
				map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}},
				map[string]any{"key": "kubernetes.io/os", "operator": "In", "values": []any{"linux"}},
				// 50 (the most the CRD allows) of the catalog's 36 amd64 linux types.
				map[string]any{"key": "node.kubernetes.io/instance-type", "operator": "Exists", "minValues": int64(50)},
			},
		}}},
	}}
	got, err := dyn.Resource(sandbox.NodePoolResource).Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dyn.Resource(sandbox.NodePoolResource).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting NodePool %s: %v", name, err)
		}
	})
	now := time.Now().UTC().Format(time.RFC3339)
	var conds []any
	for _, typ := range []string{"Ready", "ValidationSucceeded", "NodeClassReady"} {
		conds = append(conds, map[string]any{"type": typ, "status": "True", "reason": typ, "message": "", "lastTransitionTime": now, "observedGeneration": got.GetGeneration()})
	}
	got.Object["status"] = map[string]any{"conditions": conds}
	if _, err := dyn.Resource(sandbox.NodePoolResource).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
