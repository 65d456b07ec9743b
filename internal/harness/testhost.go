package harness

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// TestHost is a network namespace of the test's own, joined to this machine by a veth pair: the only
// non-loopback addresses a test may ever dial, since they exist inside that namespace and on no
// network. The kube-apiserver refuses to proxy to loopback pod IPs, so a pod whose IP is a TestHost
// address lets a test exercise pods/proxy for real. Addresses come from 198.18.0.0/15 (RFC 2544, benchmarking), one /24 per host.
type TestHost struct {
	Name   string
	HostIP string   // this machine's end of the veth
	IPs    []string // the namespace's addresses
}

// TestHostsSupported says whether this process may create network namespaces (root with `ip`).
func TestHostsSupported() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip command (iproute2) is not installed")
	}
	return nil
}

// NewTestHost creates namespace name (≤ 12 characters) with n addresses 198.18.subnet.2.. on a veth
// whose host end is 198.18.subnet.1. Close removes it.
func NewTestHost(name string, subnet, n int) (*TestHost, error) {
	if err := TestHostsSupported(); err != nil {
		return nil, err
	}
	if len(name) > 12 || subnet < 0 || subnet > 255 || n < 1 || n > 200 {
		return nil, fmt.Errorf("test host %q: name ≤ 12 characters, subnet 0..255, 1..200 addresses", name)
	}
	h := &TestHost{Name: name, HostIP: fmt.Sprintf("198.18.%d.1", subnet)}
	hostIf, nsIf := name+"-h", name+"-n"
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", hostIf, "type", "veth", "peer", "name", nsIf},
		{"link", "set", nsIf, "netns", name},
		{"addr", "add", h.HostIP + "/24", "dev", hostIf},
		{"link", "set", hostIf, "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "set", nsIf, "up"},
	}
	for i := 0; i < n; i++ {
		ip := fmt.Sprintf("198.18.%d.%d", subnet, i+2)
		h.IPs = append(h.IPs, ip)
		steps = append(steps, []string{"-n", name, "addr", "add", ip + "/24", "dev", nsIf})
	}
	_ = exec.Command("ip", "netns", "del", name).Run() // a leftover of a killed run
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			h.Close()
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return h, nil
}

// Command runs a program inside the namespace.
func (h *TestHost) Command(path string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, path}, args...)...)
}

// Close deletes the namespace (and with it both ends of the veth).
func (h *TestHost) Close() { _ = exec.Command("ip", "netns", "del", h.Name).Run() }
