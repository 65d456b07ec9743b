package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// disruptNodePool is a kwok NodePool that consolidates at once, of one capacity type.
func disruptNodePool(capacityType string) string {
	return `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 0s, budgets: [{nodes: "100%"}]}
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [` + capacityType + `]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
        - {key: kubernetes.io/os, operator: In, values: [linux]}
`
}

// disruptNode is a registered, initialized, Consolidatable Karpenter node of NodePool default with
// its NodeClaim, of a kwok instance type with capacity cpu and memory, and one pod of 500m on it that
// a ReplicaSet owns.
func disruptNode(name, instanceType, capacityType, cpu, memory string) string {
	labels := fmt.Sprintf(`{karpenter.sh/nodepool: default, node.kubernetes.io/instance-type: %s, topology.kubernetes.io/zone: test-zone-a,
      karpenter.sh/capacity-type: %s, kubernetes.io/arch: amd64, kubernetes.io/os: linux, kubernetes.io/hostname: %s,
      karpenter.sh/registered: "true", karpenter.sh/initialized: "true"}`, instanceType, capacityType, name)
	capacity := fmt.Sprintf(`{cpu: "%s", memory: %s, pods: "110", ephemeral-storage: 20Gi}`, cpu, memory)
	var conds []string
	for _, c := range []string{"Launched", "Registered", "Initialized", "Consolidatable"} {
		conds = append(conds, fmt.Sprintf(`{type: %s, status: "True", reason: %s, message: "", lastTransitionTime: "2026-01-01T00:00:00Z"}`, c, c))
	}
	return `apiVersion: v1
kind: Node
metadata:
  name: ` + name + `
  labels: ` + labels + `
spec: {providerID: "kwok://` + name + `"}
status:
  capacity: ` + capacity + `
  allocatable: ` + capacity + `
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: ` + name + `-claim
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: ` + labels + `
spec:
  nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
  requirements: []
status:
  providerID: "kwok://` + name + `"
  nodeName: ` + name + `
  capacity: ` + capacity + `
  allocatable: ` + capacity + `
  conditions: [` + strings.Join(conds, ", ") + `]
---
apiVersion: v1
kind: Pod
metadata:
  name: small
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: small, uid: rs-small, controller: true}]
spec:
  nodeName: ` + name + `
  containers: [{name: app, image: nginx, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
status: {phase: Running}
`
}

func disruptJSON(t *testing.T, args ...string) (int, engine.DisruptReport, string) {
	t.Helper()
	code, out, errOut := run(t, "kubectl-karpctl", append([]string{"disrupt", "-o", "json"}, args...)...)
	var r engine.DisruptReport
	if code == cli.ExitOK || code == cli.ExitUnhealthy {
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.DisruptResult == nil {
			t.Fatalf("exit %d, stdout is not a disruption report (%v):\n%s\nstderr: %s", code, err, out, errOut)
		}
	}
	return code, r, errOut
}

// A spot node with one small pod: Karpenter replaces a spot node with a cheaper spot node only with
// its SpotToSpotConsolidation feature gate on; by default it keeps it.
func TestDisruptSpotToSpotBehindItsGate(t *testing.T) {
	dir := writeFiles(t, map[string]string{"np.yaml": disruptNodePool("spot"),
		"node.yaml": disruptNode("big", "c-32x-amd64-linux", "spot", "32", "64Gi")})
	code, off, errOut := disruptJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || len(off.Commands) != 0 {
		t.Fatalf("gate off: exit %d, commands %+v: %s", code, off.Commands, errOut)
	}
	code, on, errOut := disruptJSON(t, "--offline", "-f", dir, "--karpenter-setting", "FEATURE_GATES=SpotToSpotConsolidation=true")
	if code != cli.ExitUnhealthy || len(on.Commands) != 1 {
		t.Fatalf("gate on: exit %d, commands %+v: %s", code, on.Commands, errOut)
	}
	c := on.Commands[0]
	if c.Decision != "replace" || c.Reason != "Underutilized" || len(c.Replacements) != 1 || c.Replacements[0].CapacityType != "spot" ||
		c.Replacements[0].PricePerHour >= c.Candidates[0].PricePerHour {
		t.Errorf("gate on: command %+v; want big replaced by a cheaper spot node", c)
	}
	found := false
	for _, s := range on.KarpenterSettings.Settings {
		found = found || (s.Name == "FEATURE_GATES" && s.Value == "SpotToSpotConsolidation=true" && s.Source == "--karpenter-setting")
	}
	if !found {
		t.Errorf("settings in effect lack FEATURE_GATES from the flag: %+v", on.KarpenterSettings)
	}
}

// A NodeOverlay that makes one type cheap changes what consolidation replaces a node with, and the
// replacement says so: the overlay that changed its price, and the type the provider launches at its
// own prices, as plan's NodeClaims do.
func TestDisruptReplacementWithNodeOverlay(t *testing.T) {
	files := map[string]string{"np.yaml": disruptNodePool("on-demand"),
		"node.yaml": disruptNode("big", "c-16x-amd64-linux", "on-demand", "16", "32Gi"), "overlay.yaml": cheapOverlay}
	dir := writeFiles(t, files)
	code, off, errOut := disruptJSON(t, "--offline", "-f", dir)
	if code != cli.ExitUnhealthy || len(off.Commands) != 1 || len(off.Commands[0].Replacements) != 1 {
		t.Fatalf("gate off: exit %d, commands %+v: %s", code, off.Commands, errOut)
	}
	plain := off.Commands[0].Replacements[0]
	if plain.InstanceType == "m-2x-amd64-linux" || plain.Overlay != nil || plain.LaunchInstanceType != "" {
		t.Errorf("gate off: replacement %+v; want the overlay ignored", plain)
	}
	code, on, errOut := disruptJSON(t, "--offline", "-f", dir, "--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	if code != cli.ExitUnhealthy || len(on.Commands) != 1 || len(on.Commands[0].Replacements) != 1 {
		t.Fatalf("gate on: exit %d, commands %+v: %s", code, on.Commands, errOut)
	}
	r := on.Commands[0].Replacements[0]
	if r.InstanceType != "m-2x-amd64-linux" || r.PricePerHour != 0.01 || r.Overlay == nil || !r.Overlay.Price || strings.Join(r.Overlay.Overlays, ",") != "cheap-m" {
		t.Errorf("gate on: replacement %+v (overlay %+v); want m-2x-amd64-linux at the overlay's $0.01, marked", r, r.Overlay)
	}
	if r.LaunchInstanceType != plain.InstanceType {
		t.Errorf("gate on: provider launches %q, want %s (its own cheapest)", r.LaunchInstanceType, plain.InstanceType)
	}
	var out, stderr strings.Builder
	runIn(t, "", &out, &stderr, "disrupt", "--offline", "-f", dir, "--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	want := "m-2x-amd64-linux [price: NodeOverlay cheap-m] (provider launches " + plain.InstanceType + ")"
	if !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s%s", want, out.String(), stderr.String())
	}
}
