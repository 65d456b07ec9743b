package plan

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// settingsNS holds the live Karpenter whose settings come from two ConfigMaps.
const settingsNS = "karpenter-cfg"

var overlaysGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1alpha1", Resource: "nodeoverlays"}

// liveKarpenter creates, for the test's duration, a chart-like Karpenter Deployment in settingsNS
// whose controller takes FEATURE_GATES and MIN_VALUES_POLICY from ConfigMap karpenter-gates and
// PREFERENCE_POLICY from ConfigMap karpenter-policy.
func liveKarpenter(ctx context.Context, t *testing.T) {
	t.Helper()
	scene(ctx, t)
	harness.NewBuilder(env.Client).Namespace(ctx, t, settingsNS)
	for name, data := range map[string]map[string]string{
		"karpenter-gates":  {"FEATURE_GATES": "NodeOverlay=true", "MIN_VALUES_POLICY": "BestEffort"},
		"karpenter-policy": {"PREFERENCE_POLICY": "Ignore"},
	} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: settingsNS, Name: name}, Data: data}
		if _, err := env.Client.CoreV1().ConfigMaps(settingsNS).Create(ctx, cm, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: settingsNS})
	ref := func(cm, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key}}}
	}
	d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
		ref("karpenter-gates", "FEATURE_GATES"), ref("karpenter-gates", "MIN_VALUES_POLICY"), ref("karpenter-policy", "PREFERENCE_POLICY"),
	}
	if _, err := env.Client.AppsV1().Deployments(settingsNS).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().Deployments(settingsNS).Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
}

// setting is the named setting of the plan's settings.
func setting(t *testing.T, rep engine.PlanReport, name string) karpenter.Setting {
	t.Helper()
	if rep.KarpenterSettings == nil {
		t.Fatal("the plan carries no karpenterSettings")
	}
	for _, s := range rep.KarpenterSettings.Settings {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no setting %s in %+v", name, rep.KarpenterSettings.Settings)
	return karpenter.Setting{}
}

// requests counts the requests whose path (after the method) starts with path.
func requests(r e2e.Result, path string) int {
	n := 0
	for _, q := range r.Requests {
		if _, p, _ := strings.Cut(q, " "); strings.HasPrefix(p, path) {
			n++
		}
	}
	return n
}

// The live Karpenter's settings from two ConfigMaps cost exactly one GET per ConfigMap (two values
// from one, one from the other), and the NodeOverlays one LIST; the plan and its header say what
// it ran with and where each value came from.
func TestPlanSettingsFromLiveConfigMaps(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	liveKarpenter(ctx, t)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	if got := rep.KarpenterSettings.Deployment; got != settingsNS+"/karpenter" {
		t.Errorf("settings read from %q, want %s/karpenter", got, settingsNS)
	}
	for name, want := range map[string][2]string{
		"FEATURE_GATES":     {"NodeOverlay=true", "ConfigMap karpenter-cfg/karpenter-gates key FEATURE_GATES"},
		"MIN_VALUES_POLICY": {"BestEffort", "ConfigMap karpenter-cfg/karpenter-gates key MIN_VALUES_POLICY"},
		"PREFERENCE_POLICY": {"Ignore", "ConfigMap karpenter-cfg/karpenter-policy key PREFERENCE_POLICY"},
	} {
		if s := setting(t, rep, name); s.Value != want[0] || s.Source != want[1] {
			t.Errorf("%s=%q from %q, want %q from %q", name, s.Value, s.Source, want[0], want[1])
		}
	}
	if len(rep.KarpenterSettings.Warnings) != 0 {
		t.Errorf("settings warnings %q", rep.KarpenterSettings.Warnings)
	}
	cms := "/api/v1/namespaces/" + settingsNS + "/configmaps/"
	if a, b, all := requests(r, cms+"karpenter-gates?"), requests(r, cms+"karpenter-policy?"), requests(r, "/api/v1/namespaces/"+settingsNS+"/configmaps"); a != 1 || b != 1 || all != 2 {
		t.Errorf("ConfigMap requests: %d of karpenter-gates, %d of karpenter-policy, %d in all; want 1, 1, 2:\n%s", a, b, all, strings.Join(r.Requests, "\n"))
	}
	if n := requests(r, "/apis/karpenter.sh/v1alpha1/nodeoverlays"); n != 1 {
		t.Errorf("%d NodeOverlay requests, want one LIST:\n%s", n, strings.Join(r.Requests, "\n"))
	}
	r.OnlyReads(t)
	t.Logf("%d requests in all", len(r.Requests))

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop")
	header := lineOf(r.Stdout, "Karpenter settings:")
	for _, want := range []string{"MIN_VALUES_POLICY=BestEffort (ConfigMap karpenter-cfg/karpenter-gates key MIN_VALUES_POLICY)",
		"PREFERENCE_POLICY=Ignore (ConfigMap karpenter-cfg/karpenter-policy key PREFERENCE_POLICY)", "[Deployment karpenter-cfg/karpenter]"} {
		if !strings.Contains(header, want) {
			t.Errorf("header %q lacks %q:\n%s", header, want, r.Stdout)
		}
	}
}

// lineOf is the first line of out containing s.
func lineOf(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// A user who may not read ConfigMaps: each referenced ConfigMap is asked for once, the refusal is a
// warning naming the RBAC grant, Karpenter's defaults are used and the header says so; the plan is
// made (exit 0).
func TestPlanSettingsConfigMapForbidden(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	liveKarpenter(ctx, t)
	kubeconfig, err := env.RestrictedKubeconfig(ctx, "plan-no-configmaps",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes", "persistentvolumeclaims", "persistentvolumes"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses", "csinodes"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.sh"}, Resources: []string{"nodepools", "nodeclaims", "nodeoverlays"}, Verbs: []string{"list"}})
	if err != nil {
		t.Fatal(err)
	}
	grant := "karpctl may not read it (grant get on configmaps in namespace " + settingsNS + ")"
	r := e2e.Karpctl(ctx, t, kubeconfig, "plan", "-n", "shop", "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitOK || rep.Totals.NewNodes != 3 {
		t.Fatalf("exit %d, totals %+v: %s", r.Code, rep.Totals, r.Stderr)
	}
	for _, name := range []string{"FEATURE_GATES", "MIN_VALUES_POLICY", "PREFERENCE_POLICY"} {
		if s := setting(t, rep, name); s.Source != karpenter.SourceDefault || s.Value != s.Default {
			t.Errorf("%s=%q from %q, want Karpenter's default %q", name, s.Value, s.Source, s.Default)
		}
	}
	warned := map[string]bool{}
	for _, w := range rep.KarpenterSettings.Warnings {
		for _, cm := range []string{"karpenter-gates", "karpenter-policy"} {
			if strings.Contains(w, "ConfigMap "+settingsNS+"/"+cm+" not read") && strings.Contains(w, grant) && strings.Contains(w, "Karpenter's default is used") {
				warned[cm] = true
			}
		}
	}
	if !warned["karpenter-gates"] || !warned["karpenter-policy"] {
		t.Errorf("warnings %q: want each ConfigMap named with the grant", rep.KarpenterSettings.Warnings)
	}
	cms := "/api/v1/namespaces/" + settingsNS + "/configmaps/"
	if a, b := requests(r, cms+"karpenter-gates?"), requests(r, cms+"karpenter-policy?"); a != 1 || b != 1 {
		t.Errorf("ConfigMap requests: %d of karpenter-gates, %d of karpenter-policy; want one each (refused or not):\n%s", a, b, strings.Join(r.Requests, "\n"))
	}
	r.OnlyReads(t)

	r = e2e.Karpctl(ctx, t, kubeconfig, "plan", "-n", "shop")
	if r.Code != cli.ExitOK || !strings.Contains(lineOf(r.Stdout, "Karpenter settings:"), "Karpenter's defaults [Deployment "+settingsNS+"/karpenter]") ||
		!strings.Contains(r.Stdout, grant) {
		t.Errorf("exit %d, header does not say defaults were used and why:\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// Without the NodeOverlay CRD the plan is made, with a warning that overlays were not applied.
func TestPlanWithoutNodeOverlayCRD(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	const crd = "nodeoverlays.karpenter.sh"
	if err := dyn.Resource(sandbox.CRDResource).Delete(ctx, crd, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := sandbox.InstallCRDs(ctx, dyn); err != nil {
			t.Errorf("reinstalling the CRDs: %v", err)
			return
		}
		if err := harness.Poll(ctx, 100*time.Millisecond, "NodeOverlays served again", func() (bool, error) {
			_, err := dyn.Resource(overlaysGVR).List(ctx, metav1.ListOptions{})
			return err == nil, nil
		}); err != nil {
			t.Error(err)
		}
	})
	if err := harness.Poll(ctx, 100*time.Millisecond, "NodeOverlays no longer served", func() (bool, error) {
		_, err := dyn.Resource(overlaysGVR).List(ctx, metav1.ListOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitOK || rep.Totals.NewNodes != 3 || rep.Totals.PodsOnNewNodes != 3 {
		t.Fatalf("exit %d, totals %+v: %s", r.Code, rep.Totals, r.Stderr)
	}
	requireWarning(t, rep, "nodeoverlays.karpenter.sh not read (not served by this cluster): NodeOverlays are not applied")
	if n := requests(r, "/apis/karpenter.sh/v1alpha1/nodeoverlays"); n != 1 {
		t.Errorf("%d NodeOverlay requests, want one LIST:\n%s", n, strings.Join(r.Requests, "\n"))
	}
	r.OnlyReads(t)
}

// A Karpenter Deployment in the -f files (helm template output) is read instead of the cluster's,
// whose ConfigMaps are then not read at all.
func TestPlanFileKarpenterBeatsLive(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	liveKarpenter(ctx, t)
	rendered := `# Source: karpenter/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: karpenter
  namespace: karpenter
  labels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}
spec:
  replicas: 2
  selector: {matchLabels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}}
  template:
    metadata: {labels: {app.kubernetes.io/name: karpenter, app.kubernetes.io/instance: karpenter}}
    spec:
      containers:
        - name: controller
          image: public.ecr.aws/karpenter/controller:1.15.0
          env:
            - {name: FEATURE_GATES, value: "SpotToSpotConsolidation=true"}
            - {name: MIN_VALUES_POLICY, value: Strict}
`
	file := filepath.Join(t.TempDir(), "karpenter.yaml")
	if err := os.WriteFile(file, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-f", file, "-o", "json")
	rep := decode(t, r)
	if r.Code != cli.ExitOK || rep.Totals.PendingPods != 3 {
		t.Fatalf("exit %d, totals %+v (the rendered Karpenter is not a workload): %s", r.Code, rep.Totals, r.Stderr)
	}
	if got := rep.KarpenterSettings.Deployment; got != "karpenter/karpenter" {
		t.Errorf("settings read from %q, want the file's karpenter/karpenter", got)
	}
	fromFile := "Deployment karpenter/karpenter env"
	for name, want := range map[string][2]string{
		"FEATURE_GATES":     {"SpotToSpotConsolidation=true", fromFile},
		"MIN_VALUES_POLICY": {"Strict", fromFile},
		"PREFERENCE_POLICY": {"Respect", karpenter.SourceDefault},
	} {
		if s := setting(t, rep, name); s.Value != want[0] || s.Source != want[1] {
			t.Errorf("%s=%q from %q, want %q from %q", name, s.Value, s.Source, want[0], want[1])
		}
	}
	if n := requests(r, "/api/v1/namespaces/"+settingsNS+"/configmaps"); n != 0 {
		t.Errorf("%d requests for the live Karpenter's ConfigMaps, want none", n)
	}
	r.OnlyReads(t)
}
