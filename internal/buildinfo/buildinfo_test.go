package buildinfo

import (
	"os/exec"
	"strings"
	"testing"

	_ "sigs.k8s.io/karpenter/pkg/apis/v1" // linked so that the test binary records the module
)

// The version the binary records is the one go.mod pins, as the go command reports it.
func TestModuleVersionFollowsGoMod(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "sigs.k8s.io/karpenter").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	if got, want := ModuleVersion("sigs.k8s.io/karpenter"), strings.TrimSpace(string(out)); got != want {
		t.Errorf("ModuleVersion(sigs.k8s.io/karpenter) = %q, go.mod pins %q", got, want)
	}
	if got := ModuleVersion("example.com/not/linked"); got != "unknown" {
		t.Errorf("a module not linked: %q, want unknown", got)
	}
}
