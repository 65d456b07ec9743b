package harness

import (
	"io"
	"net"
	"testing"
	"time"
)

// The proxy delays each direction by its one-way delay, keeps the bytes and their order, and
// refuses a target off loopback.
func TestLatencyProxy(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	const oneWay = 40 * time.Millisecond
	p, err := StartLatencyProxy(echo.Addr().String(), oneWay)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("ping-pong")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 9)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping-pong" {
		t.Fatalf("%q %v", got, err)
	}
	if rtt := time.Since(start); rtt < 2*oneWay {
		t.Fatalf("round trip %s, want at least %s", rtt, 2*oneWay)
	}
	if _, err := StartLatencyProxy("192.0.2.1:443", oneWay); err == nil {
		t.Fatal("a target off loopback was accepted")
	}
}
