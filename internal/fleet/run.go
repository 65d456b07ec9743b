package fleet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/karpctl/karpctl/internal/units"

	"github.com/karpctl/karpctl/internal/cli"
)

// DefaultParallel is --parallel's default: how many contexts are read at once. A fleet is mostly
// waiting on remote API servers, so a fleet of 20–30 clusters is read in one wave (at 8, 20 contexts
// took three waves, 3–4× one context's time); the bound keeps --all-contexts over a kubeconfig of
// hundreds of contexts from opening hundreds of connections and clients at once.
const DefaultParallel = 32

// Outcome is one context's answer: the command's single-cluster result, or the error that kept the
// context from answering. It is one entry of `--contexts … -o json|yaml`.
type Outcome[T any] struct {
	Context string `json:"context"`
	// Result is the single-cluster command's -o json answer; nil when Error is set.
	Result *T `json:"result,omitempty"`
	// Error is the one-line error the single-cluster command would print.
	Error string `json:"error,omitempty"`
	// ExitCode is the single-cluster command's exit code for this context.
	ExitCode int `json:"exitCode"`
	// Duration is how long this context took to answer (or to fail).
	Duration units.Seconds `json:"durationSeconds"`
}

// Check answers the question for one context: its result and the exit code that result means (0,
// or cli.ExitUnhealthy for a bad verdict), or an error (its exit code from cli.ExitCode).
type Check[T any] func(ctx context.Context, kubeContext string) (T, int, error)

// Options tune Run.
type Options struct {
	// Parallel bounds how many contexts are read at once (DefaultParallel when < 1).
	Parallel int
	// OnAnswer, when set, is called after each context has answered with the count so far; calls are
	// serialised.
	OnAnswer func(answered, total int)
}

// Run calls check for every context, at most o.Parallel at a time, and returns the outcomes in the
// order of contexts. A context that fails, hangs until its own timeouts or panics yields an error
// outcome and never holds up or fails another context's answer.
func Run[T any](ctx context.Context, contexts []string, o Options, check Check[T]) []Outcome[T] {
	out := make([]Outcome[T], len(contexts))
	workers := o.Parallel
	if workers < 1 {
		workers = DefaultParallel
	}
	workers = min(workers, len(contexts))
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answered int
	)
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				out[i] = runOne(ctx, contexts[i], check)
				mu.Lock()
				answered++
				if o.OnAnswer != nil {
					o.OnAnswer(answered, len(contexts))
				}
				mu.Unlock()
			}
		})
	}
	for i := range contexts {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return out
}

func runOne[T any](ctx context.Context, name string, check Check[T]) (o Outcome[T]) {
	o.Context = name
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			o.Result, o.Error, o.ExitCode = nil, fmt.Sprintf("internal error reading context %s: %v", name, p), cli.ExitAPI
		}
		o.Duration = units.Seconds(time.Since(start))
	}()
	res, code, err := check(ctx, name)
	if err != nil {
		o.Error, o.ExitCode = cli.Message(err), cli.ExitCode(err)
		return o
	}
	o.Result, o.ExitCode = &res, code
	return o
}

// Summary is the fleet's verdict.
type Summary struct {
	Total int
	// Healthy answered with exit code 0, Unhealthy with a bad verdict (exit 3).
	Healthy, Unhealthy int
	// Unreachable could not be read (connection, permission, server error: exit 1); Failed did not
	// answer for another reason (Karpenter not found there: exit 2).
	Unreachable, Failed int
	// ExitCode is the worst (highest) of the contexts' exit codes: 3 when any context is unhealthy,
	// else 2 when Karpenter is missing somewhere, else 1 when any could not be read, else 0.
	ExitCode int
	// Bad are the contexts that did not exit 0, in order, each with its kind: "prod-eu (unreachable)".
	Bad []string
}

// Summarize counts the outcomes by kind and picks the worst exit code.
func Summarize[T any](outcomes []Outcome[T]) Summary {
	s := Summary{Total: len(outcomes)}
	for _, o := range outcomes {
		switch {
		case o.Result != nil && o.ExitCode == cli.ExitOK:
			s.Healthy++
		case o.Result != nil:
			s.Unhealthy++
			s.Bad = append(s.Bad, o.Context+" (unhealthy)")
		case o.ExitCode == cli.ExitAPI:
			s.Unreachable++
			s.Bad = append(s.Bad, o.Context+" (unreachable)")
		default:
			s.Failed++
			s.Bad = append(s.Bad, o.Context+" (no answer)")
		}
		s.ExitCode = max(s.ExitCode, o.ExitCode)
	}
	return s
}
