package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/manifest"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/test/e2e"
)

// providerModule is the AWS provider (whose module carries Karpenter's chart) at the version go.mod pins.
func providerModule(ctx context.Context) string {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Path}}@{{.Version}}", "github.com/aws/karpenter-provider-aws").Output()
	if err != nil {
		return "github.com/aws/karpenter-provider-aws@unknown"
	}
	return strings.TrimSpace(string(out))
}

// helmBin finds helm on PATH or in $(go env GOPATH)/bin.
func helmBin() string {
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// realChart renders the real Karpenter Helm chart (from the aws provider's Go module) into ns.
// Without helm (or the module) it skips, except under CI=true, whose .ci/run installs helm: there it fails.
func realChart(ctx context.Context, t *testing.T, ns string, set ...string) []byte {
	t.Helper()
	helm := helmBin()
	if helm == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("helm not installed; .ci/run installs it with go install helm.sh/helm/v3/cmd/helm@v3.22.0")
		}
		t.Skip("helm not installed: `GOTOOLCHAIN=go1.27.3 go install helm.sh/helm/v3/cmd/helm@v3.22.0` to audit the real chart's `helm template` output")
	}
	module := providerModule(ctx)
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", module).Output()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot download %s for its chart: %v", module, err)
		}
		t.Skipf("cannot download %s for its chart: %v", module, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %v %s", err, out)
	}
	args := []string{"template", "karpenter", filepath.Join(mod.Dir, "charts", "karpenter"), "--namespace", ns, "--set", "settings.clusterName=test"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v: %s", err, stderr.String())
	}
	return rendered
}

// The real chart's output, offline: its HA guards pass; only the empty default resources warn.
// Installed (Deployment and PDB created, pods bound to a1 and b1), the live audit agrees.
func TestRealHelmChart(t *testing.T) {
	ctx := e2e.Context(t, 3*time.Minute)
	rendered := realChart(ctx, t, "helm-chart")
	off := e2e.KarpctlIn(ctx, t, "", rendered, "audit-topology", "-f", "-", "-o", "json")
	var r topology.Report
	off.Decode(t, &r)
	if w := strings.Join(findings(r, topology.Warning), " "); w != "requests-missing" || len(findings(r, topology.Error)) != 0 {
		t.Fatalf("chart defaults: errors %v, warnings %s", findings(r, topology.Error), w)
	}
	withReq := realChart(ctx, t, "helm-chart", "controller.resources.requests.cpu=1", "controller.resources.requests.memory=1Gi",
		"controller.resources.limits.cpu=1", "controller.resources.limits.memory=1Gi")
	res := e2e.KarpctlIn(ctx, t, "", withReq, "audit-topology", "-f", "-", "--fail-on", "warning")
	if res.Code != 0 {
		t.Fatalf("chart with the getting-started resources: exit %d", res.Code)
	}

	if env == nil {
		return
	}
	m, err := topology.ReadManifests([]string{"-"}, manifest.Options{Stdin: bytes.NewReader(rendered)}, "default")
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := m.OfflineInput("", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := in.Deployment.DeepCopy()
	harness.NewBuilder(env.Client).Namespace(ctx, t, "helm-chart")
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "helm-chart", Name: d.Spec.Template.Spec.ServiceAccountName}}
	if _, err := env.Client.CoreV1().ServiceAccounts("helm-chart").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deploy(ctx, t, d, false, "a1", "b1")
	pdb := m.PDBs[0].DeepCopy()
	if _, err := env.Client.PolicyV1().PodDisruptionBudgets("helm-chart").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	live, _ := audit(ctx, t, "helm-chart")
	if a, b := specOnly(r), specOnly(live); a != b {
		t.Fatalf("offline and live spec findings differ:\n%s\n--\n%s", a, b)
	}
	if len(findings(live, topology.Error)) != 0 {
		t.Fatalf("live: %v", findings(live, topology.Error))
	}
}
