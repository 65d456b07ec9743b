package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main runs a test package against one control plane started for the whole package and stopped
// after it. Without built binaries the e2e tests skip (see Need), unless CI=true, where that fails.
//
//	var env *harness.Env
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Kwok: true}, &env)) }
func Main(m *testing.M, opts Options, env **Env) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	e, err := Start(ctx, opts)
	cancel()
	switch {
	case errors.Is(err, ErrMissingBinaries) && os.Getenv("CI") != "true":
		fmt.Fprintf(os.Stderr, "harness: %v; e2e tests skip\n", err)
		startErr = err
	case err != nil:
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	default:
		*env = e
		defer e.Stop()
	}
	return m.Run()
}

var startErr error

// Need skips an e2e test when the package's control plane could not be started for lack of binaries.
func Need(t testing.TB, env *Env) {
	t.Helper()
	if env == nil {
		t.Skipf("no control plane: %v", startErr)
	}
}
