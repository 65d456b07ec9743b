package harness

import (
	"net/http"
	"sync"

	"k8s.io/client-go/rest"
)

// RequestCounter counts the requests sent through the transports it wraps, each as
// "METHOD path?query", in order, and the host each went to. Wrap is a transport wrapper
// (rest.Config.Wrap, the WrapTransport of karpctl's commands.Env); CountRequests applies it to a copy
// of a rest.Config.
type RequestCounter struct {
	mu       sync.Mutex
	requests []string
	hosts    []string
	// statuses are the responses' codes (0 until answered, or for a transport error).
	statuses []int
}

// Wrap returns rt with every request recorded in c. Each call wraps its own rt, so one counter can
// count for several clients (a clientset and a dynamic client built from the same config).
func (c *RequestCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return countingTransport{c: c, rt: rt}
}

type countingTransport struct {
	c  *RequestCounter
	rt http.RoundTripper
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.c.mu.Lock()
	i := len(t.c.requests)
	t.c.requests = append(t.c.requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	t.c.hosts = append(t.c.hosts, r.URL.Host)
	t.c.statuses = append(t.c.statuses, 0)
	t.c.mu.Unlock()
	resp, err := t.rt.RoundTrip(r)
	if err == nil {
		t.c.mu.Lock()
		if i < len(t.c.statuses) {
			t.c.statuses[i] = resp.StatusCode
		}
		t.c.mu.Unlock()
	}
	return resp, err
}

// Requests returns what was sent so far.
func (c *RequestCounter) Requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.requests...)
}

// Hosts returns the host ("127.0.0.1:PORT") of each request Requests returns, in the same order.
func (c *RequestCounter) Hosts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hosts...)
}

// Statuses are the status codes of the responses to the requests Requests returns, in the same
// order: 0 for a request not answered (yet, or a transport error).
func (c *RequestCounter) Statuses() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.statuses...)
}

// Reset forgets what was sent so far.
func (c *RequestCounter) Reset() {
	c.mu.Lock()
	c.requests, c.hosts, c.statuses = nil, nil, nil
	c.mu.Unlock()
}

// CountRequests returns a copy of cfg whose requests are recorded in the returned counter.
func CountRequests(cfg *rest.Config) (*rest.Config, *RequestCounter) {
	c := &RequestCounter{}
	cp := rest.CopyConfig(cfg)
	cp.Wrap(c.Wrap)
	return cp, c
}
