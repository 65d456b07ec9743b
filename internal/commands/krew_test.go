package commands

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
)

// krewBlock returns the indented block after "  key: |" in .krew.yaml.
func krewBlock(t *testing.T, manifest, key string) string {
	t.Helper()
	_, rest, ok := strings.Cut(manifest, "\n  "+key+": |\n")
	if !ok {
		t.Fatalf(".krew.yaml has no %s block", key)
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if l != "" && !strings.HasPrefix(l, "    ") {
			break
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// The krew description names every command there is (and the fleet flag --contexts), and the
// caveats every command that only reads, so that neither drifts from the commands.
func TestKrewManifestNamesEveryCommand(t *testing.T) {
	b, err := os.ReadFile("../../.krew.yaml")
	if err != nil {
		t.Fatal(err)
	}
	description, caveats := krewBlock(t, string(b), "description"), krewBlock(t, string(b), "caveats")
	root := NewRoot(&Env{Globals: cli.NewGlobals()}, "karpctl")
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		word := regexp.MustCompile(`(^|[^a-z-])` + regexp.QuoteMeta(c.Name()) + `($|[^a-z-])`)
		if !word.MatchString(description) {
			t.Errorf("the krew description does not name the %s command", c.Name())
		}
		if c.Name() != "drill" && !word.MatchString(caveats) {
			t.Errorf("the krew caveats do not name the %s command", c.Name())
		}
	}
	if !strings.Contains(description, "--contexts") {
		t.Error("the krew description does not name --contexts (fleets)")
	}
}

// The completion executable the archives ship hands kubectl's arguments to karpctl's __complete.
func TestCompletionExecutable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the sh script; Windows runs kubectl_complete-karpctl.cmd")
	}
	dir := t.TempDir()
	fake := "#!/bin/sh\necho \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "kubectl-karpctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("../../hack/release/kubectl_complete-karpctl", "plan", "--zone-")
	cmd.Env = append(os.Environ(), "PATH="+dir)
	out, err := cmd.Output()
	if err != nil || string(out) != "__complete plan --zone-\n" {
		t.Errorf("%q %v, want karpctl's __complete with the arguments", out, err)
	}
	b, err := os.ReadFile("../../hack/release/kubectl_complete-karpctl.cmd")
	if err != nil || !strings.Contains(string(b), "kubectl-karpctl.exe __complete %*") {
		t.Errorf("kubectl_complete-karpctl.cmd: %q %v", b, err)
	}
	gr, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil || !strings.Contains(string(gr), "src: hack/release/kubectl_complete-karpctl\n") || !strings.Contains(string(gr), "src: hack/release/kubectl_complete-karpctl.cmd\n") {
		t.Errorf(".goreleaser.yaml does not put both completion executables in the archives (%v)", err)
	}
}
