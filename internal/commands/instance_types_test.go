package commands

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// eksManifests: the EKS-style NodePool and its EC2NodeClass (subnets in eu-west-1a/b).
var eksManifests = func() string {
	b, err := os.ReadFile("testdata/eks.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

func TestInstanceTypesOffline(t *testing.T) {
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests})
	code, out, errOut := run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir, "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var l engine.InstanceTypeList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if l.NodePool != "eks" || l.Region != "eu-west-1" || l.AWSData == nil || len(l.InstanceTypes) == 0 {
		t.Fatalf("list %s %s %d", l.NodePool, l.Region, len(l.InstanceTypes))
	}
	var m5 *engine.InstanceTypeInfo
	for i, it := range l.InstanceTypes {
		if it.Name == "m5.large" {
			m5 = &l.InstanceTypes[i]
		}
		if i > 0 && it.Price >= 0 && l.InstanceTypes[i-1].Price > it.Price {
			t.Errorf("%s after the pricier %s", it.Name, l.InstanceTypes[i-1].Name)
		}
	}
	// Karpenter's instance-types reference (AL2023, no block device mappings): m5.large has cpu 1930m,
	// memory 6903Mi, pods 29, ephemeral-storage 17Gi.
	if m5 == nil {
		t.Fatal("no m5.large")
	}
	a := m5.Allocatable
	if a.Cpu().MilliValue() != 1930 || a.Memory().Value()/(1<<20) != 6903 || a.Pods().Value() != 29 {
		t.Errorf("m5.large allocatable %v", a)
	}

	code, out, _ = run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir, "--requests", "cpu=2,memory=7Gi")
	if code != cli.ExitOK || !strings.Contains(out, "instance types aws eu-west-1 (EC2 data of ") || !strings.Contains(out, "A pod requesting cpu=2,memory=7Gi fits on") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	if line := lineOf(out, "m5.large "); !strings.Contains(line, "1930m") || !strings.Contains(line, "6903Mi") || !strings.HasSuffix(strings.TrimSpace(line), "no") {
		t.Errorf("m5.large row %q: 2 CPUs do not fit 1930m", line)
	}
	code, out, _ = run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir, "--nodeclass", "eks", "-o", "wide")
	if code != cli.ExitOK || !strings.Contains(lineOf(out, "m5.large "), "spot: eu-west-1a") || !strings.Contains(out, "spot prices are estimates") {
		t.Errorf("wide: exit %d\n%.3000s", code, out)
	}
}

// --pod: Karpenter's own request sum (an init container's 3 CPUs count) and the pod's node selector
// (family m5) decide which types are marked.
func TestInstanceTypesPod(t *testing.T) {
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests, "pod.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      nodeSelector: {karpenter.k8s.aws/instance-family: m5}
      initContainers: [{name: init, image: busybox, resources: {requests: {cpu: "3", memory: 1Gi}}}]
      containers: [{name: api, image: nginx, resources: {requests: {cpu: "1", memory: 7Gi}}}]
`})
	code, out, errOut := run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir+"/eks.yaml", "--pod", dir+"/pod.yaml", "-o", "json")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var l engine.InstanceTypeList
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatal(err)
	}
	if l.Pod != "shop/api-0" || l.Requests.Cpu().MilliValue() != 3000 || l.Requests.Memory().Value() != 7<<30 {
		t.Errorf("pod %q requests %v", l.Pod, l.Requests)
	}
	for _, it := range l.InstanceTypes {
		want := strings.HasPrefix(it.Name, "m5.") && it.Name != "m5.large"
		if it.Fits == nil || *it.Fits != want {
			t.Errorf("%s: fits %v, want %v", it.Name, it.Fits, want)
		}
	}
	code, _, errOut = run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir+"/eks.yaml", "--pod", dir+"/eks.yaml")
	if code != cli.ExitUsage || !strings.Contains(errOut, "no Pod without a node") {
		t.Errorf("--pod without a pod: exit %d %q", code, errOut)
	}
}

// DaemonSets from -f take room on a new node, as Karpenter's scheduler counts them: the agent on
// every node, the second only where its node selector (family m5) lets it run.
func TestInstanceTypesDaemonSetOverhead(t *testing.T) {
	daemonSets := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: agent, resources: {requests: {cpu: 500m, memory: 256Mi}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: m5-only, namespace: kube-system}
spec:
  selector: {matchLabels: {app: m5-only}}
  template:
    metadata: {labels: {app: m5-only}}
    spec:
      nodeSelector: {karpenter.k8s.aws/instance-family: m5}
      containers: [{name: m5, image: m5, resources: {requests: {cpu: 2500m}}}]
`
	fits := func(files ...string) map[string]bool {
		t.Helper()
		args := []string{"instance-types", "--offline", "--requests", "cpu=1500m,memory=1Gi", "-o", "json"}
		for _, f := range files {
			args = append(args, "-f", f)
		}
		code, out, errOut := run(t, "kubectl-karpctl", args...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var l engine.InstanceTypeList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, it := range l.InstanceTypes {
			m[it.Name] = it.Fits != nil && *it.Fits
		}
		return m
	}
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests, "ds.yaml": daemonSets})
	without, with := fits(dir+"/eks.yaml"), fits(dir+"/eks.yaml", dir+"/ds.yaml")
	for name, want := range map[string][2]bool{
		// allocatable cpu: large 1930m, xlarge 3920m, 2xlarge 7910m
		"m5.large": {true, false}, "c5.large": {true, false}, // 1500m + 500m > 1930m
		"m5.xlarge": {true, false}, "c5.xlarge": {true, true}, // m5 adds 2500m: 4500m > 3920m
		"m5.2xlarge": {true, true},
	} {
		if without[name] != want[0] || with[name] != want[1] {
			t.Errorf("%s fits: without DaemonSets %v, with %v; want %v", name, without[name], with[name], want)
		}
	}
	code, out, _ := run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir, "--requests", "cpu=1500m,memory=1Gi")
	if code != cli.ExitOK || !strings.Contains(out, "next to the DaemonSet pods Karpenter expects there (2 DaemonSets read)") {
		t.Errorf("exit %d\n%.600s", code, out)
	}
}

func lineOf(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func TestInstanceTypesInputErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodepool", "a", "--nodeclass", "b"}, "give --nodepool or --nodeclass, not both"},
		{[]string{"--offline"}, "--offline needs -f"},
		{[]string{"--offline", "-f", dir, "--nodepool", "nope"}, `NodePool "nope" (NodePools: eks)`},
		{[]string{"--offline", "-f", dir, "--nodeclass", "nope"}, `NodeClass "nope" (NodeClasses: EC2NodeClass/eks`},
		{[]string{"--offline", "-f", dir, "--requests", "cpu"}, "--requests"},
		{[]string{"--offline", "-f", dir, "--region", "mars-1"}, `--region "mars-1" is not a region karpctl has AWS prices for (known: `},
		{[]string{"--offline", "-f", dir, "--region", "us-east-1"}, "--region us-east-1 contradicts the EC2NodeClasses' subnets, which say eu-west-1"},
	} {
		code, _, errOut := run(t, "kubectl-karpctl", append([]string{"instance-types"}, c.args...)...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d %q, want one line with %q", c.args, code, errOut, c.want)
		}
	}
}

// The EKS-style NodePool plans offline without --catalog, at eu-west-1's price in the subnets' zones.
func TestPlanEKSOffline(t *testing.T) {
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests, "web.yaml": planDeployment("web", 3, "1")})
	code, r, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || r.Region != "eu-west-1" || r.Catalog != "aws" || r.Totals.PodsOnNewNodes != 3 {
		t.Fatalf("exit %d %s: %+v", code, errOut, r.Result)
	}
	for _, nc := range r.NodePools[0].NodeClaims {
		if strings.Join(nc.Zones, ",") != "eu-west-1a,eu-west-1b" || nc.CapacityType != "on-demand" || nc.PricePerHour <= 0 {
			t.Errorf("claim %+v", nc)
		}
	}
}

// NodeOverlays change the listed prices through Karpenter's overlay store, marked with the overlay's
// name, only with the NodeOverlay gate on; off, a warning says Karpenter ignores them.
func TestInstanceTypesNodeOverlay(t *testing.T) {
	overlay := `apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata: {name: half-m5}
spec:
  priceAdjustment: "-50%"
  requirements: [{key: karpenter.k8s.aws/instance-family, operator: In, values: [m5]}]
`
	dir := writeFiles(t, map[string]string{"eks.yaml": eksManifests, "overlay.yaml": overlay})
	list := func(args ...string) engine.InstanceTypeList {
		t.Helper()
		code, out, errOut := run(t, "kubectl-karpctl", append([]string{"instance-types", "--offline", "-f", dir, "--nodepool", "eks", "-o", "json"}, args...)...)
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var l engine.InstanceTypeList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	find := func(l engine.InstanceTypeList, name string) engine.InstanceTypeInfo {
		for _, it := range l.InstanceTypes {
			if it.Name == name {
				return it
			}
		}
		t.Fatalf("no %s", name)
		return engine.InstanceTypeInfo{}
	}
	off, on := list(), list("--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	m5off, m5on, c5on := find(off, "m5.large"), find(on, "m5.large"), find(on, "c5.large")
	if m5off.Overlay != nil || m5on.Overlay == nil || m5on.Overlay.Overlays[0] != "half-m5" || !m5on.Overlay.Price || c5on.Overlay != nil {
		t.Errorf("marks: off %+v, on %+v, c5 %+v", m5off.Overlay, m5on.Overlay, c5on.Overlay)
	}
	if diff := m5on.Price - m5off.Price/2; diff > 1e-9 || diff < -1e-9 {
		t.Errorf("m5.large $%v with the overlay, $%v without: want half", m5on.Price, m5off.Price)
	}
	warned := false
	for _, w := range off.Warnings {
		warned = warned || strings.Contains(w.Message, "NodeOverlays half-m5 ignored")
	}
	if !warned {
		t.Errorf("gate off: warnings %+v", off.Warnings)
	}
}
