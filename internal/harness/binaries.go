package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrMissingBinaries means hack/kube/build.sh has not been run; tests skip on it unless CI=true.
var ErrMissingBinaries = errors.New("control-plane binaries not built: run `make harness` (hack/kube/build.sh)")

// BinDir is where hack/kube/build.sh puts the binaries: $KARPCTL_BIN, else <repo>/.bin.
func BinDir() string {
	if d := os.Getenv("KARPCTL_BIN"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".bin")
}

// RepoRoot is the repository: the nearest directory, from the working directory up, whose go.mod
// declares karpctl's module (go test runs each package in its own directory), so tests in any package
// agree, with or without -trimpath.
func RepoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && declares(b) {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// declares reports whether a go.mod declares karpctl's module.
func declares(gomod []byte) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == "github.com/karpctl/karpctl"
		}
	}
	return false
}

// Bin returns the path of a built binary or ErrMissingBinaries.
func Bin(name string) (string, error) {
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w (%s missing)", ErrMissingBinaries, p)
	}
	return p, nil
}
