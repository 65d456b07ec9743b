package commands

import (
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
)

// A NodePool whose minValues no kwok catalog can meet: Karpenter's Strict policy leaves the pods
// pending, BestEffort relaxes minValues and provisions.
const minValuesNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: picky
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: node.kubernetes.io/instance-type, operator: Exists, minValues: 5000}
`

func karpenterDeployment(env string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: karpenter
  namespace: kube-system
  labels: {app.kubernetes.io/name: karpenter}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: karpenter}
  template:
    metadata:
      labels: {app.kubernetes.io/name: karpenter}
    spec:
      containers:
        - name: controller
          image: public.ecr.aws/karpenter/controller:1.15.0
          env:
` + env
}

func TestPlanMinValuesPolicyFromSettings(t *testing.T) {
	dir := writeFiles(t, map[string]string{"np.yaml": minValuesNodePool, "deploy.yaml": planDeployment("web", 1, "1")})
	code, r, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitUnhealthy || r.Totals.UnschedulablePods != 1 {
		t.Fatalf("Strict (default): exit %d, totals %+v: %s", code, r.Totals, errOut)
	}
	code, r, errOut = planJSON(t, "--offline", "-f", dir, "--karpenter-setting", "MIN_VALUES_POLICY=BestEffort")
	if code != cli.ExitOK || r.Totals.NewNodes != 1 {
		t.Fatalf("BestEffort: exit %d, totals %+v: %s", code, r.Totals, errOut)
	}
	found := false
	for _, s := range r.KarpenterSettings.Settings {
		found = found || (s.Name == "MIN_VALUES_POLICY" && s.Value == "BestEffort" && s.Source == "--karpenter-setting" && s.Default == "Strict")
	}
	if !found || len(r.KarpenterSettings.Settings) < 30 {
		t.Errorf("-o json settings lack MIN_VALUES_POLICY=BestEffort from the flag: %+v", r.KarpenterSettings)
	}

	// The Karpenter Deployment in the files (helm template output) is read for its env, not planned.
	withDeploy := writeFiles(t, map[string]string{"np.yaml": minValuesNodePool, "deploy.yaml": planDeployment("web", 1, "1"),
		"karpenter.yaml": karpenterDeployment("            - {name: MIN_VALUES_POLICY, value: BestEffort}\n")})
	var out, stderr strings.Builder
	code = runIn(t, "", &out, &stderr, "plan", "--offline", "-f", withDeploy)
	if code != cli.ExitOK {
		t.Fatalf("Deployment BestEffort: exit %d: %s%s", code, out.String(), stderr.String())
	}
	want := "Karpenter settings: MIN_VALUES_POLICY=BestEffort (Deployment kube-system/karpenter env) [Deployment kube-system/karpenter]"
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "1 pending pods") {
		t.Errorf("header lacks %q:\n%s", want, out.String())
	}
}

func TestPlanPreferencePolicyIgnore(t *testing.T) {
	preferred := strings.Replace(strings.Replace(planDeployment("web", 3, "100m"),
		"requiredDuringSchedulingIgnoredDuringExecution:", "preferredDuringSchedulingIgnoredDuringExecution:", 1),
		"- topologyKey: kubernetes.io/hostname\n              labelSelector: {matchLabels: {app: web}}",
		"- weight: 100\n              podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}", 1)
	dir := writeFiles(t, map[string]string{"np.yaml": planNodePool, "deploy.yaml": preferred})
	_, respect, errOut := planJSON(t, "--offline", "-f", dir)
	_, ignore, _ := planJSON(t, "--offline", "-f", dir, "--karpenter-setting", "PREFERENCE_POLICY=Ignore")
	if respect.Totals.NewNodes != 3 || ignore.Totals.NewNodes != 1 {
		t.Errorf("new nodes: Respect %d (want 3, one per pod), Ignore %d (want 1): %s", respect.Totals.NewNodes, ignore.Totals.NewNodes, errOut)
	}
}

func TestPlanRefusesSettingsKarpenterRefuses(t *testing.T) {
	dir := writeFiles(t, map[string]string{"np.yaml": planNodePool, "deploy.yaml": planDeployment("web", 1, "1")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--karpenter-setting", "FEATURE_GATES=NodeOverley=true"}, "FEATURE_GATES"},
		{[]string{"--karpenter-setting", "MIN_VALUES_POLICY=Sometimes"}, `invalid MIN_VALUES_POLICY "Sometimes"`},
		{[]string{"--karpenter-setting", "NO_SUCH=1"}, "unknown Karpenter setting"},
	} {
		var out, errOut strings.Builder
		code := runIn(t, "", &out, &errOut, append([]string{"plan", "--offline", "-f", dir}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if code != cli.ExitUsage || len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line naming %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	bad := writeFiles(t, map[string]string{"np.yaml": planNodePool, "deploy.yaml": planDeployment("web", 1, "1"),
		"karpenter.yaml": karpenterDeployment("            - {name: BATCH_IDLE_DURATION, value: soon}\n")})
	var out, errOut strings.Builder
	if code := runIn(t, "", &out, &errOut, "plan", "--offline", "-f", bad); code != cli.ExitUsage || !strings.Contains(errOut.String(), "BATCH_IDLE_DURATION") {
		t.Errorf("malformed Deployment env: exit %d, %q", code, errOut.String())
	}
}

const cheapOverlay = `apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata: {name: cheap-m}
spec:
  requirements:
    - {key: node.kubernetes.io/instance-type, operator: In, values: [m-2x-amd64-linux]}
  price: "0.01"
`

// Karpenter's own overlay store and decorator, behind its NodeOverlay gate.
func TestPlanNodeOverlayBehindItsGate(t *testing.T) {
	dir := writeFiles(t, map[string]string{"np.yaml": planNodePool, "deploy.yaml": planDeployment("web", 1, "1"), "overlay.yaml": cheapOverlay})
	code, off, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || len(off.NodePools[0].NodeClaims) != 1 {
		t.Fatalf("gate off: exit %d: %s", code, errOut)
	}
	plain := off.NodePools[0].NodeClaims[0]
	warned := false
	for _, w := range off.Warnings {
		warned = warned || strings.Contains(w.Message, "NodeOverlays cheap-m ignored: Karpenter runs with the NodeOverlay feature gate off")
	}
	if plain.InstanceType == "m-2x-amd64-linux" || plain.Overlay != nil || plain.LaunchInstanceType != "" || !warned {
		t.Errorf("gate off: %+v, warnings %+v; want the overlay ignored with a warning", plain, off.Warnings)
	}
	code, on, errOut := planJSON(t, "--offline", "-f", dir, "--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	if code != cli.ExitOK {
		t.Fatalf("gate on: exit %d: %s", code, errOut)
	}
	nc := on.NodePools[0].NodeClaims[0]
	if nc.InstanceType != "m-2x-amd64-linux" || nc.PricePerHour != 0.01 || nc.Overlay == nil || !nc.Overlay.Price || nc.Overlay.Capacity ||
		strings.Join(nc.Overlay.Overlays, ",") != "cheap-m" {
		t.Errorf("gate on: %+v (overlay %+v); want m-2x-amd64-linux at the overlay's $0.01, marked", nc, nc.Overlay)
	}
	if nc.LaunchInstanceType != plain.InstanceType || nc.LaunchPricePerHour != plain.PricePerHour {
		t.Errorf("gate on: provider launches %s at %v, want %s at %v (its own cheapest)", nc.LaunchInstanceType, nc.LaunchPricePerHour, plain.InstanceType, plain.PricePerHour)
	}
}

// A ConfigMap in the -f files is what the Karpenter Deployment's env reads from, offline as live; one
// missing from the files keeps Karpenter's default, with a warning.
func TestPlanSettingsFromConfigMapInFiles(t *testing.T) {
	deploy := karpenterDeployment("            - name: MIN_VALUES_POLICY\n              valueFrom: {configMapKeyRef: {name: karpenter-settings, key: minValues}}\n")
	cm := `apiVersion: v1
kind: ConfigMap
metadata: {name: karpenter-settings, namespace: kube-system}
data: {minValues: BestEffort}
`
	dir := writeFiles(t, map[string]string{"np.yaml": minValuesNodePool, "deploy.yaml": planDeployment("web", 1, "1"), "karpenter.yaml": deploy, "cm.yaml": cm})
	code, r, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || r.Totals.NewNodes != 1 {
		t.Fatalf("exit %d, totals %+v: %s", code, r.Totals, errOut)
	}
	found := false
	for _, s := range r.KarpenterSettings.Settings {
		found = found || (s.Name == "MIN_VALUES_POLICY" && s.Value == "BestEffort" && s.Source == "ConfigMap kube-system/karpenter-settings key minValues")
	}
	if !found {
		t.Errorf("settings %+v", r.KarpenterSettings.Settings)
	}
	without := writeFiles(t, map[string]string{"np.yaml": minValuesNodePool, "deploy.yaml": planDeployment("web", 1, "1"), "karpenter.yaml": deploy})
	code, r, _ = planJSON(t, "--offline", "-f", without)
	warned := false
	for _, w := range r.KarpenterSettings.Warnings {
		warned = warned || strings.Contains(w, "MIN_VALUES_POLICY from ConfigMap kube-system/karpenter-settings not read") && strings.Contains(w, "ConfigMaps are not read offline")
	}
	if code != cli.ExitUnhealthy || !warned {
		t.Errorf("without the ConfigMap: exit %d, warnings %q", code, r.KarpenterSettings.Warnings)
	}
}
