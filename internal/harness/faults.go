package harness

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Fault is what FaultProxy does to a request instead of forwarding it.
type Fault string

const (
	// Throttled answers 429 Too Many Requests with Retry-After: 1, as API Priority and Fairness does.
	Throttled Fault = "429 Retry-After"
	// Unavailable answers 503 with Retry-After: 1, as an API server shutting down does.
	Unavailable Fault = "503 Retry-After"
	// InternalError answers 500 without Retry-After.
	InternalError Fault = "500"
	// Reset closes the connection with a TCP reset instead of answering.
	Reset Fault = "connection reset"
	// Truncated forwards the request and sends half of the answer's body, then closes the connection.
	Truncated Fault = "truncated response"
	// Stalled holds the request without an answer until the client gives up (or for StallFor).
	Stalled Fault = "stall past the request timeout"
	// ExpiredContinue answers the first paginated list request that carries a continue token with
	// 410 Gone (reason Expired), as the API server does once etcd has compacted that revision.
	ExpiredContinue Fault = "expired continue token (410)"
)

// Faults lists every Fault, in the order the reliability tables show them.
var Faults = []Fault{Throttled, Unavailable, InternalError, Reset, Truncated, Stalled, ExpiredContinue}

// StallFor is how long Stalled holds a request whose client has not given up.
const StallFor = 60 * time.Second

// FaultProxy is an HTTPS proxy on loopback in front of a harness API server: it forwards every
// request with the Env's admin credentials, except the requests Inject picks, which get the fault.
// Kubeconfig points a client at it.
type FaultProxy struct {
	Kubeconfig string

	l   net.Listener
	srv *http.Server
	rp  *httputil.ReverseProxy

	mu       sync.Mutex
	fault    Fault
	at, left int
	n        int
	hits     []string
	// method and path, when set, restrict the fault to the requests with that method whose path
	// contains path (InjectOn).
	method, path string
}

// StartFaultProxy starts a proxy for e's API server on 127.0.0.1 and writes a kubeconfig for it.
func (e *Env) StartFaultProxy() (*FaultProxy, error) {
	target, err := url.Parse(e.Server())
	if err != nil {
		return nil, err
	}
	upstream, err := rest.TransportFor(e.Config)
	if err != nil {
		return nil, err
	}
	certFile, keyFile, err := e.pki.issue(fmt.Sprintf("fault-proxy-%d", time.Now().UnixNano()), "fault-proxy", nil, true)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{l: l}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Del("Authorization")
		},
		Transport:     upstream,
		FlushInterval: -1, // watches stream
		ErrorLog:      nil,
	}
	// HTTP/1.1 only: a reset then closes the client's connection, not one stream of many.
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()

	src, err := clientcmd.LoadFromFile(e.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg := src.DeepCopy()
	for _, c := range cfg.Clusters {
		c.Server = "https://" + l.Addr().String()
	}
	p.Kubeconfig = filepath.Join(e.Dir, fmt.Sprintf("kubeconfig-faults-%s", strings.ReplaceAll(l.Addr().String(), ":", "-")))
	if err := clientcmd.WriteToFile(*cfg, p.Kubeconfig); err != nil {
		return nil, err
	}
	return p, nil
}

// Close stops the proxy.
func (p *FaultProxy) Close() { _ = p.srv.Close() }

// Inject makes the at-th request from now (1-based; for ExpiredContinue the at-th carrying a
// continue token) and the times−1 after it get fault; the others are forwarded. Inject("", 0, 0)
// forwards everything.
func (p *FaultProxy) Inject(f Fault, at, times int) {
	p.InjectOn(f, "", "", at, times)
}

// InjectOn is Inject counting only the requests with method whose path contains path (either may be
// empty for any): the at-th such request from now and the times−1 after it get fault.
func (p *FaultProxy) InjectOn(f Fault, method, path string, at, times int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.at, p.left, p.n, p.hits = f, at, times, 0, nil
	p.method, p.path = method, path
}

// Hits are the requests that got the fault, each "METHOD path?query".
func (p *FaultProxy) Hits() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hits...)
}

// Requests is how many requests (for ExpiredContinue: with a continue token) came since Inject.
func (p *FaultProxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// pick reports the fault r gets, "" to forward it.
func (p *FaultProxy) pick(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fault == ExpiredContinue && r.URL.Query().Get("continue") == "" {
		return ""
	}
	if (p.method != "" && r.Method != p.method) || !strings.Contains(r.URL.Path, p.path) {
		return ""
	}
	p.n++
	if p.fault == "" || p.n < p.at || p.left <= 0 {
		return ""
	}
	p.left--
	p.hits = append(p.hits, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	return p.fault
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	status := func(code int, reason, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
	}
	switch p.pick(r) {
	case Throttled:
		w.Header().Set("Retry-After", "1")
		status(http.StatusTooManyRequests, "TooManyRequests", "too many requests, please try again later")
	case Unavailable:
		w.Header().Set("Retry-After", "1")
		status(http.StatusServiceUnavailable, "ServiceUnavailable", "the server is currently unable to handle the request")
	case InternalError:
		status(http.StatusInternalServerError, "InternalError", "Internal error occurred: injected")
	case ExpiredContinue:
		status(http.StatusGone, "Expired", "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
	case Reset:
		reset(w)
	case Truncated:
		if r.URL.Query().Get("watch") != "" {
			reset(w) // a watch has no end to cut in half
			return
		}
		p.truncated(w, r)
	case Stalled:
		select {
		case <-r.Context().Done():
		case <-time.After(StallFor):
		}
		reset(w)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
			_ = tcp.SetLinger(0)
		}
	}
	_ = conn.Close()
}

// truncated forwards r and sends the answer's headers (with its full Content-Length) and half its
// body, then closes the connection.
func (p *FaultProxy) truncated(w http.ResponseWriter, r *http.Request) {
	rec := &bufferedResponse{header: http.Header{}}
	p.rp.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(rec.body)))
	w.WriteHeader(rec.code)
	_, _ = w.Write(rec.body[:len(rec.body)/2])
	_ = http.NewResponseController(w).Flush()
	reset(w)
}

type bufferedResponse struct {
	header http.Header
	code   int
	body   []byte
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferedResponse) Write(d []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	b.body = append(b.body, d...)
	return len(d), nil
}
