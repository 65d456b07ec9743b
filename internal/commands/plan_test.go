package commands

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// Offline plan tests: no cluster, manifests only.

const planNodePool = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: default
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
`

func planDeployment(name string, replicas int, cpu string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ` + name + `
  namespace: shop
spec:
  replicas: ` + itoa(replicas) + `
  selector:
    matchLabels: {app: ` + name + `}
  template:
    metadata:
      labels: {app: ` + name + `}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {app: ` + name + `}}
      containers:
        - name: app
          image: nginx
          resources:
            requests: {cpu: "` + cpu + `", memory: 1Gi}
`
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func planJSON(t *testing.T, args ...string) (int, engine.PlanReport, string) {
	t.Helper()
	code, out, errOut := run(t, "kubectl-karpctl", append([]string{"plan", "-o", "json"}, args...)...)
	var r engine.PlanReport
	if code == cli.ExitOK || code == cli.ExitUnhealthy {
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.Result == nil {
			t.Fatalf("exit %d, stdout is not a plan (%v):\n%s\nstderr: %s", code, err, out, errOut)
		}
	}
	return code, r, errOut
}

func TestPlanOfflineExpandsReplicas(t *testing.T) {
	dir := writeFiles(t, map[string]string{"nodepool.yaml": planNodePool, "deploy.yaml": planDeployment("web", 4, "1")})
	code, r, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if r.Mode != "offline" || r.EngineVersion == "" || r.Catalog != "kwok" {
		t.Errorf("header: %+v", r)
	}
	if r.Totals.PendingPods != 4 || r.Totals.NewNodes != 4 || r.Totals.PodsOnNewNodes != 4 || r.Totals.PricePerHour <= 0 {
		t.Errorf("totals %+v, want 4 pods on 4 nodes (hostname anti-affinity)", r.Totals)
	}
	var pods []string
	for _, np := range r.NodePools {
		for _, nc := range np.NodeClaims {
			pods = append(pods, nc.Pods...)
			if nc.InstanceType == "" || nc.CapacityType != "on-demand" || nc.Zone == "" || nc.CPUFill <= 0 {
				t.Errorf("claim %+v", nc)
			}
		}
	}
	if strings.Join(pods, ",") != "shop/web-0,shop/web-1,shop/web-2,shop/web-3" {
		t.Errorf("pods %v", pods)
	}

	// --scale changes the replica count of the file's Deployment.
	code, r, _ = planJSON(t, "--offline", "-f", dir, "--scale", "deployment/web=7")
	if code != cli.ExitOK || r.Totals.PendingPods != 7 || r.Totals.NewNodes != 7 || len(r.Scale) != 1 {
		t.Errorf("scaled: exit %d totals %+v", code, r.Totals)
	}
	code, _, errOut = planJSON(t, "--offline", "-f", dir, "--scale", "deployment/nope=7")
	if code != cli.ExitUsage || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown scale target: exit %d %q", code, errOut)
	}
}

func TestPlanOfflineStdinAndTable(t *testing.T) {
	var out, errOut strings.Builder
	code := runIn(t, planNodePool+"---\n"+planDeployment("api", 2, "1"), &out, &errOut, "plan", "--offline", "-f", "-", "-o", "wide")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Plan (dry run): 2 pending pods", "New NodeClaims", "INSTANCE TYPE", "shop/api-0", "Total: 2 new nodes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if errOut.String() != "" {
		t.Errorf("stderr %q", errOut.String())
	}
}

func TestPlanZoneDownMovesClaims(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": planNodePool + "---\n" + planDeployment("web", 3, "1")})
	_, before, _ := planJSON(t, "--offline", "-f", dir)
	inZone := func(r engine.PlanReport, zone string) int {
		n := 0
		for _, np := range r.NodePools {
			for _, nc := range np.NodeClaims {
				if nc.Zone == zone {
					n++
				}
				for _, z := range nc.Zones {
					if z == zone && nc.Zone != zone {
						n++
					}
				}
			}
		}
		return n
	}
	if inZone(before, "test-zone-a") == 0 {
		t.Fatalf("baseline plan uses no claim in test-zone-a: %+v", before.NodePools)
	}
	code, after, errOut := planJSON(t, "--offline", "-f", dir, "--zone-down", "test-zone-a")
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := inZone(after, "test-zone-a"); n != 0 || after.Totals.NewNodes != 3 {
		t.Errorf("zone down: %d claims still in test-zone-a, %d nodes", n, after.Totals.NewNodes)
	}
	if strings.Join(after.ZonesDown, ",") != "test-zone-a" {
		t.Errorf("zonesDown %v", after.ZonesDown)
	}
	// The same zone twice is the same what-if (it used to fail: exit 1, "catalog kwok has no zone").
	code, twice, errOut := planJSON(t, "--offline", "-f", dir, "--zone-down", "test-zone-a", "--zone-down", "test-zone-a")
	if code != cli.ExitOK {
		t.Fatalf("zone down twice: exit %d: %s", code, errOut)
	}
	if strings.Join(twice.ZonesDown, ",") != "test-zone-a" || inZone(twice, "test-zone-a") != 0 || twice.Totals.NewNodes != 3 {
		t.Errorf("zone down twice: zonesDown %v, %d nodes", twice.ZonesDown, twice.Totals.NewNodes)
	}
}

func TestPlanUnschedulableExits3(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": planNodePool + "---\n" + planDeployment("huge", 1, "5000")})
	code, r, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitUnhealthy || r.Totals.UnschedulablePods != 1 || len(r.Unschedulable) != 1 || r.Unschedulable[0].Reason == "" {
		t.Fatalf("exit %d, unschedulable %+v", code, r.Unschedulable)
	}
	if !strings.Contains(errOut, "1 of 1 pending pods are unschedulable") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestPlanInputErrorsExit2WithOneLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"bad.yaml":      planNodePool + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: x\n",
		"unknown.yaml":  "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
		"nopool.yaml":   planDeployment("web", 1, "1"),
		"catalog.json":  `[{"name": "x", "offerings": [}]`,
		"nodepool.yaml": planNodePool,
	})
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--offline", "-f", p("bad.yaml")}, "bad.yaml:"},
		{[]string{"--offline", "-f", p("unknown.yaml")}, "unsupported kind Service"},
		{[]string{"--offline", "-f", p("nopool.yaml")}, "no karpenter.sh/v1 NodePool"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--catalog", p("catalog.json")}, "catalog.json"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--catalog", "gcp"}, `--catalog "gcp": no such file`},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--catalog="}, "--catalog is empty: give kwok or a FILE"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--catalog", "aws"}, "--catalog aws is gone: NodePools that reference an EC2NodeClass are planned with the AWS provider's instance-type model"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--zone-down", "mars-1"}, "mars-1"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--scale", "web"}, "--scale"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--scale", "cronjob/web=3"}, "unknown kind"},
		{[]string{"--offline", "-f", p("nodepool.yaml"), "--dry-run=false"}, "never launches nodes"},
		{[]string{"--offline"}, "--offline needs -f"},
		{[]string{"--offline", "-f", p("missing.yaml")}, "missing.yaml"},
	} {
		code, _, errOut := run(t, "kubectl-karpctl", append([]string{"plan"}, tc.args...)...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want one line with %q)", tc.args, code, errOut, tc.want)
		}
	}
}

func TestPlanNoUsableNodePoolOffline(t *testing.T) {
	aws := strings.Replace(planNodePool, "{group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}", "{group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}", 1)
	dir := writeFiles(t, map[string]string{"all.yaml": aws + "---\n" + planDeployment("web", 1, "1")})
	code, _, errOut := run(t, "kubectl-karpctl", "plan", "--offline", "-f", dir)
	if code != cli.ExitUsage || !strings.Contains(errOut, "no usable NodePool: default: not Ready: EC2NodeClass default: NodeClassReady=False, NodeClassNotFound: NodeClass not found on cluster") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	// --catalog overrides the NodeClass: the same NodePool plans with kwok's catalog.
	code, r, errOut := planJSON(t, "--offline", "-f", dir, "--catalog", "kwok")
	if code != cli.ExitOK || r.Catalog != "kwok" {
		t.Errorf("--catalog kwok: exit %d, catalog %q, %s", code, r.Catalog, errOut)
	}
}

// Offline, --scale KIND/NAME scales only a workload of that kind, as it does live.
func TestPlanOfflineScaleMatchesKind(t *testing.T) {
	dir := writeFiles(t, map[string]string{"nodepool.yaml": planNodePool, "deploy.yaml": planDeployment("web", 2, "1")})
	code, _, errOut := run(t, "kubectl-karpctl", "plan", "--offline", "-f", dir, "--scale", "statefulset/web=5")
	if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "scale: no StatefulSet named web in the input") {
		t.Errorf("statefulset/web with only a Deployment web: exit %d, stderr %q", code, errOut)
	}
	for _, target := range []string{"web=5", "Deployment/web=5", "deploy/web=5"} {
		code, r, errOut := planJSON(t, "--offline", "-f", dir, "--scale", target)
		if code != cli.ExitOK || r.Totals.PendingPods != 5 {
			t.Errorf("%s: exit %d, totals %+v, %s", target, code, r.Totals, errOut)
		}
	}
}

// A workload may be scaled once: live a repeat made duplicate pods, offline the last count won.
func TestPlanRepeatedScaleIsUsageError(t *testing.T) {
	dir := writeFiles(t, map[string]string{"nodepool.yaml": planNodePool, "deploy.yaml": planDeployment("web", 2, "1")})
	for _, args := range [][]string{
		{"--offline", "-f", dir, "--scale", "web=5", "--scale", "web=7"},
		{"--offline", "-f", dir, "--scale", "deployment/web=5", "--scale", "web=7"},
		{"--offline", "-f", dir, "--scale", "web=5", "--scale", "sts/web=7"}, // offline web means any kind
		{"-n", "shop", "--scale", "web=5", "--scale", "deployment/web=7"},    // live: rejected before any request
	} {
		code, _, errOut := run(t, "kubectl-karpctl", append([]string{"plan"}, args...)...)
		want := `--scale "` + args[len(args)-1] + `": web is already scaled by --scale "` + args[len(args)-3] + `"`
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, want) {
			t.Errorf("%v: exit %d, stderr %q (want one line with %q)", args, code, errOut, want)
		}
	}
	// Live, web is the Deployment web: a StatefulSet web is another workload.
	o := &PlanOptions{env: &Env{Globals: cli.NewGlobals()}, dryRunOnly: dryRunOnly{DryRun: true}, ChunkSize: 500, Scale: []string{"web=5", "statefulset/web=3"}}
	if err := o.Validate(noFlagChanged); err != nil || len(o.scale) != 2 {
		t.Errorf("live deployment and statefulset web: %v, %+v", err, o.scale)
	}
	o.Offline, o.Files = true, []string{dir}
	if err := o.Validate(noFlagChanged); cli.ExitCode(err) != cli.ExitUsage {
		t.Errorf("offline web and statefulset/web: %v", err)
	}
}

func runIn(t *testing.T, stdin string, out, errOut *strings.Builder, args ...string) int {
	t.Helper()
	env := &Env{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: out, ErrOut: errOut}, Globals: cli.NewGlobals()}
	return Run(context.Background(), env, "kubectl-karpctl", args)
}

// A slow plan says so once on stderr; stdout stays a clean JSON document.
func TestPlanProgressOnStderr(t *testing.T) {
	defer func(d time.Duration) { progressAfter = d }(progressAfter)
	progressAfter = time.Nanosecond
	dir := writeFiles(t, map[string]string{"all.yaml": planNodePool + "---\n" + planDeployment("web", 2, "1")})
	code, _, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || errOut != "planning 2 pending pods with Karpenter "+cli.EngineVersion()+"'s scheduler…\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func noFlagChanged(string) bool { return false }
