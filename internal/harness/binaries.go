package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// RepoRoot finds the repository from this source file's location, so tests in any package agree.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Bin returns the path of a built binary or ErrMissingBinaries.
func Bin(name string) (string, error) {
	p := filepath.Join(BinDir(), name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w (%s missing)", ErrMissingBinaries, p)
	}
	return p, nil
}
