package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// Main runs a test package against one control plane started for the whole package and stopped
// after it. Without built binaries the e2e tests skip (see Need), unless CI=true, where that fails.
//
//	var env *harness.Env
//	func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Kwok: true}, &env)) }
func Main(m *testing.M, opts Options, env **Env) int { return MainN(m, opts, env) }

// MainN is Main with several control planes, each with opts, in directories of their own and on
// ports of their own (loopback only), started at once: for tests of one command against many
// clusters. Without built binaries every *env stays nil.
func MainN(m *testing.M, opts Options, envs ...**Env) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	started := make([]*Env, len(envs))
	errs := make([]error, len(envs))
	var wg sync.WaitGroup
	for i := range envs {
		wg.Go(func() { started[i], errs[i] = Start(ctx, opts) })
	}
	wg.Wait()
	cancel()
	defer func() {
		for _, e := range started {
			if e != nil {
				e.Stop()
			}
		}
	}()
	err := errors.Join(errs...)
	switch {
	case errors.Is(err, ErrMissingBinaries) && os.Getenv("CI") != "true":
		// The control planes miss the same binaries: say so once.
		startErr = errs[slices.IndexFunc(errs, func(e error) bool { return e != nil })]
		fmt.Fprintf(os.Stderr, "harness: %v; e2e tests skip\n", startErr)
	case err != nil:
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		return 1
	default:
		for i, e := range started {
			*envs[i] = e
		}
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
