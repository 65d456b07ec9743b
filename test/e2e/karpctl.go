// Package e2e holds what every end-to-end test package shares: running karpctl in-process against
// a harness control plane, with its output captured and its API requests counted.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/harness"
)

// Context is a context that ends after d or when the test (and its cleanups) finish.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Result is one karpctl run.
type Result struct {
	Code     int
	Stdout   string
	Stderr   string
	Requests []string // "METHOD path?query", in order
	Hosts    []string // the host ("127.0.0.1:PORT") of each request, in the same order
	Statuses []int    // the status of each response, in the same order (0: no response)
}

// RequestsTo are the requests sent to server (a URL such as harness.Env.Server()), in order.
func (r Result) RequestsTo(server string) []string {
	host := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	var out []string
	for i, h := range r.Hosts {
		if h == host {
			out = append(out, r.Requests[i])
		}
	}
	return out
}

// StatusesTo are the statuses of the responses to RequestsTo(server), in the same order.
func (r Result) StatusesTo(server string) []int {
	host := strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	var out []int
	for i, h := range r.Hosts {
		if h == host && i < len(r.Statuses) {
			out = append(out, r.Statuses[i])
		}
	}
	return out
}

// Karpctl runs `kubectl karpctl ARGS --kubeconfig KUBECONFIG` in-process and captures everything.
func Karpctl(ctx context.Context, t testing.TB, kubeconfig string, args ...string) Result {
	t.Helper()
	return KarpctlIn(ctx, t, kubeconfig, nil, args...)
}

// KarpctlIn is Karpctl with standard input.
func KarpctlIn(ctx context.Context, t testing.TB, kubeconfig string, stdin []byte, args ...string) Result {
	t.Helper()
	return start(ctx, kubeconfig, stdin, nil, args).Wait(t)
}

// KarpctlThrough is Karpctl with every client's transport wrapped by wrap, inside the request
// counter: tests inject API faults with it.
func KarpctlThrough(ctx context.Context, t testing.TB, kubeconfig string, wrap func(http.RoundTripper) http.RoundTripper, args ...string) Result {
	t.Helper()
	return start(ctx, kubeconfig, nil, wrap, args).Wait(t)
}

// Running is a karpctl run in the background (--watch, --serve): its output can be read while it runs.
type Running struct {
	args        []string
	out, errOut syncBuffer
	rec         harness.RequestCounter
	done        chan int
}

// Start runs `kubectl karpctl ARGS --kubeconfig KUBECONFIG` in the background until it exits or ctx ends.
func Start(ctx context.Context, kubeconfig string, args ...string) *Running {
	return start(ctx, kubeconfig, nil, nil, args)
}

func start(ctx context.Context, kubeconfig string, stdin []byte, wrap func(http.RoundTripper) http.RoundTripper, args []string) *Running {
	if kubeconfig != "" {
		args = append(args, "--kubeconfig", kubeconfig)
	}
	r := &Running{args: args, done: make(chan int, 1)}
	env := &commands.Env{
		IOStreams:     genericiooptions.IOStreams{In: bytes.NewReader(stdin), Out: &r.out, ErrOut: &r.errOut},
		Globals:       cli.NewGlobals(),
		WrapTransport: r.rec.Wrap,
	}
	if wrap != nil {
		env.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return r.rec.Wrap(wrap(rt)) }
	}
	go func() { r.done <- commands.Run(ctx, env, "kubectl-karpctl", args) }()
	return r
}

// Stdout is what the command printed so far.
func (r *Running) Stdout() string { return r.out.String() }

// Requests are the API requests the command sent so far, each "METHOD path?query".
func (r *Running) Requests() []string { return r.rec.Requests() }

// Stderr is what the command printed on stderr so far.
func (r *Running) Stderr() string { return r.errOut.String() }

// Wait waits for the command to exit and returns everything it did.
func (r *Running) Wait(t testing.TB) Result {
	t.Helper()
	code := <-r.done
	res := Result{Code: code, Stdout: r.out.String(), Stderr: r.errOut.String(), Requests: r.rec.Requests(), Hosts: r.rec.Hosts(), Statuses: r.rec.Statuses()}
	t.Logf("karpctl %s -> exit %d, %d requests\n%s%s", strings.Join(r.args, " "), code, len(res.Requests), res.Stdout, res.Stderr)
	return res
}

// Exited reports whether the command has exited within d, and its code.
func (r *Running) Exited(d time.Duration) (int, bool) {
	select {
	case code := <-r.done:
		r.done <- code
		return code, true
	case <-time.After(d):
		return 0, false
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads (e.g. --watch).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Decode parses the run's JSON output into v, failing the test with the output when it does not parse.
func (r Result) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.Stdout), v); err != nil {
		t.Fatalf("decoding the output as JSON (exit %d): %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
}

// OnlyReads fails the test unless the run sent requests and every one was a GET (list, get, watch).
func (r Result) OnlyReads(t testing.TB) {
	t.Helper()
	if len(r.Requests) == 0 {
		t.Fatal("no request recorded")
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("karpctl sent %s", q)
		}
	}
}
