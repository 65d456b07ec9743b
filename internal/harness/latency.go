package harness

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// LatencyProxy forwards TCP connections from a loopback port of its own to a loopback target,
// holding every chunk for a one-way delay in each direction, as a network with a round trip of
// twice that would: a harness control plane that answers like a remote cluster (benchmarks of many
// clusters at once, whose cost on a real network is mostly waiting). Bandwidth is not limited.
type LatencyProxy struct {
	l      net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// StartLatencyProxy listens on 127.0.0.1 and forwards to target ("127.0.0.1:PORT").
func StartLatencyProxy(target string, oneWay time.Duration) (*LatencyProxy, error) {
	if host, _, err := net.SplitHostPort(target); err != nil || !net.ParseIP(host).IsLoopback() {
		return nil, fmt.Errorf("latency proxy target %q: want a loopback host:port", target)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{l: l, target: target, delay: oneWay}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's "127.0.0.1:PORT".
func (p *LatencyProxy) Addr() string { return p.l.Addr().String() }

// Close stops accepting and ends every forwarded connection.
func (p *LatencyProxy) Close() {
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *LatencyProxy) accept() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { p.forward(out, in) })
		p.wg.Go(func() { p.forward(in, out) })
	}
}

// forward copies src to dst, each chunk written one delay after it was read, in order.
func (p *LatencyProxy) forward(dst, src net.Conn) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	chunks := make(chan chunk, 4096)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now(), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range chunks { // drained to the end, so the reader never blocks
		if failed {
			continue
		}
		time.Sleep(time.Until(c.at.Add(p.delay)))
		_, err := dst.Write(c.data)
		failed = err != nil
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}
