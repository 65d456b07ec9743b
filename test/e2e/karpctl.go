// Package e2e holds what every end-to-end test package shares: running karpctl in-process against
// a harness control plane, with its output captured and its API requests counted.
package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/commands"
)

// Result is one karpctl run.
type Result struct {
	Code     int
	Stdout   string
	Stderr   string
	Requests []string // "METHOD path?query", in order
}

// Karpctl runs `kubectl karpctl ARGS --kubeconfig KUBECONFIG` in-process and captures everything.
func Karpctl(ctx context.Context, t testing.TB, kubeconfig string, args ...string) Result {
	t.Helper()
	return KarpctlIn(ctx, t, kubeconfig, nil, args...)
}

// KarpctlIn is Karpctl with standard input.
func KarpctlIn(ctx context.Context, t testing.TB, kubeconfig string, stdin []byte, args ...string) Result {
	t.Helper()
	var out, errOut syncBuffer
	rec := &recorder{}
	env := &commands.Env{
		IOStreams:     genericiooptions.IOStreams{In: bytes.NewReader(stdin), Out: &out, ErrOut: &errOut},
		Globals:       cli.NewGlobals(),
		WrapTransport: rec.wrap,
	}
	if kubeconfig != "" {
		args = append(args, "--kubeconfig", kubeconfig)
	}
	code := commands.Run(ctx, env, "kubectl-karpctl", args)
	r := Result{Code: code, Stdout: out.String(), Stderr: errOut.String(), Requests: rec.list()}
	t.Logf("karpctl %s -> exit %d, %d requests\n%s%s", strings.Join(args, " "), code, len(r.Requests), r.Stdout, r.Stderr)
	return r
}

type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
		r.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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
