package commands

import (
	"os"
	"regexp"
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
