package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
)

// Main runs a test package against one sandbox started for the whole package and stopped after it.
// Without built binaries the tests skip (see Need), unless CI=true, where that fails.
//
//	var sb *sandbox.Sandbox
//	func TestMain(m *testing.M) { os.Exit(sandbox.Main(m, sandbox.Options{}, &sb)) }
func Main(m *testing.M, opts Options, sb **Sandbox) int {
	if opts.Timeout == 0 {
		opts.Timeout = 4 * time.Minute
	}
	s, err := Start(context.Background(), opts)
	switch {
	case errors.Is(err, harness.ErrMissingBinaries) && os.Getenv("CI") != "true":
		fmt.Fprintf(os.Stderr, "sandbox: %v; e2e tests skip\n", err)
		startErr = err
	case err != nil:
		fmt.Fprintf(os.Stderr, "sandbox: %v\n", err)
		return 1
	default:
		fmt.Fprintf(os.Stderr, "sandbox: up in %s (%s, Karpenter %s)\n",
			s.StartupTime.Round(100*time.Millisecond), s.Env.Server(), KarpenterVersion())
		*sb = s
		defer s.Stop()
	}
	return m.Run()
}

var startErr error

// Need skips a test when the package's sandbox could not be started for lack of binaries.
func Need(t testing.TB, sb *Sandbox) {
	t.Helper()
	if sb == nil {
		t.Skipf("no sandbox: %v", startErr)
	}
}
