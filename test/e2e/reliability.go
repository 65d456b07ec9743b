package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/harness"
)

// UpdateReliability is set (UPDATE_RELIABILITY=1, as `make reliability` runs the tests) when the
// tests that measure karpctl under faults, crashes and load rewrite their tables in
// docs/reliability.md; otherwise they only log them.
var UpdateReliability = os.Getenv("UPDATE_RELIABILITY") == "1"

// ReliabilitySection replaces the text between "<!-- BEGIN name -->" and "<!-- END name -->" in
// docs/reliability.md with markdown when UpdateReliability is set, and logs it either way.
func ReliabilitySection(t testing.TB, name, markdown string) {
	t.Helper()
	t.Logf("docs/reliability.md, %s:\n%s", name, markdown)
	if !UpdateReliability {
		return
	}
	path := filepath.Join(harness.RepoRoot(), "docs", "reliability.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := fmt.Sprintf("<!-- BEGIN %s -->\n", name), fmt.Sprintf("<!-- END %s -->", name)
	i, j := strings.Index(string(b), begin), strings.Index(string(b), end)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q … %q block", path, begin, end)
	}
	out := string(b[:i+len(begin)]) + markdown + string(b[j:])
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
