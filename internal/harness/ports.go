package harness

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// FreePort returns a loopback port nothing listens on, chosen at random below the kernel's ephemeral
// range: a port the kernel hands out for ":0" lies inside that range, where any outgoing connection (a
// parallel test's client, the apiserver's own to etcd) may take it before the component binds it.
// Outside the range only another listener can, and the random choice makes two harnesses starting
// at once unlikely to collide.
func FreePort() int {
	low := ephemeralLow()
	for range 100 {
		port := portFloor + rand.IntN(low-portFloor)
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // the whole range below is taken: let the kernel pick
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// portFloor is the lowest port FreePort picks: below it sit well-known and commonly configured ports.
const portFloor = 20000

// ephemeralLow is the first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range),
// 32768 where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= portFloor+1000 {
		return 32768 // a range reaching this low leaves nothing safe below it; keep the usual split
	}
	return low
}
