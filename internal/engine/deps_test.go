package engine

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbiddenDeps are test-only or side-effecting packages that must never reach the release binary:
// Karpenter's fake cloud provider and test helpers (they drag in envtest and ginkgo), envtest itself,
// controller-runtime's fake client (JSON round-trips; see snapshotClient) and kwok's provider packages, whose
// init mutates Karpenter's well-known labels and registers flags.
var forbiddenDeps = []string{
	"sigs.k8s.io/karpenter/pkg/cloudprovider/fake",
	"sigs.k8s.io/karpenter/pkg/test",
	"sigs.k8s.io/karpenter/kwok",
	"sigs.k8s.io/controller-runtime/pkg/envtest",
	"sigs.k8s.io/controller-runtime/pkg/client/fake",
	"github.com/onsi/ginkgo",
	"github.com/onsi/gomega",
}

func TestReleaseBinaryHasNoTestOnlyDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	modFile, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(modFile)))
	cmd := exec.Command("go", "list", "-deps", "./cmd/karpctl", "./internal/engine/...")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 100 {
		t.Fatalf("go list returned only %d packages; is the module root %s right?", len(deps), root)
	}
	for _, d := range deps {
		for _, f := range forbiddenDeps {
			if d == f || strings.HasPrefix(d, f+"/") {
				t.Errorf("release dependency graph contains %s", d)
			}
		}
	}
}

// The engine is a floor below the commands: it returns plain results and typed errors, which the
// command layer maps to exit codes and output, so it imports none of internal/cli, commands, view or
// output.
func TestEngineImportsNoCommandLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	const module = "github.com/karpctl/karpctl/internal/"
	for _, d := range strings.Fields(string(out)) {
		switch p, ours := strings.CutPrefix(d, module); {
		case !ours, p == "engine", strings.HasPrefix(p, "engine/"), p == "manifest", p == "discovery", p == "buildinfo":
		default:
			t.Errorf("internal/engine/... imports %s", d)
		}
	}
}
