package fleet

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/test/e2e"
)

// hangingServer accepts connections on loopback and never answers: a cluster that is slow, not down.
func hangingServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "https://" + l.Addr().String()
}

// A cluster that never answers costs its own --request-timeout and delays nobody's answer; on a
// terminal, stderr counts the answers while it waits, and the count is erased at the end.
func TestSlowClusterOnTerminal(t *testing.T) {
	setup(t)
	ctx := e2e.Context(t, time.Minute)
	kc := t.TempDir() + "/kubeconfig"
	if err := harness.WriteKubeconfigContexts(kc,
		harness.KubeContext{Name: "healthy", Env: healthyEnv},
		harness.KubeContext{Name: "stale", Env: staleEnv},
		harness.KubeContext{Name: "hanging", Env: healthyEnv, Server: hangingServer(t)}); err != nil {
		t.Fatal(err)
	}
	master, slave, err := harness.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	var shown bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	var out bytes.Buffer
	env := &commands.Env{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: slave}, Globals: cli.NewGlobals()}
	const timeout = 3 * time.Second
	code := commands.Run(ctx, env, "kubectl-karpctl", []string{"lease", "--contexts", "healthy,stale,hanging", "-o", "json", "--request-timeout", timeout.String(), "--kubeconfig", kc})
	slave.Close()
	select {
	case <-read:
	case <-time.After(5 * time.Second):
	}
	t.Logf("exit %d, terminal showed %q\n%s", code, shown.String(), out.String())
	var outs []fleet.Outcome[lease.Status]
	e2e.Result{Stdout: out.String()}.Decode(t, &outs)
	if code != cli.ExitUnhealthy || len(outs) != 3 || outs[2].Result != nil || outs[2].ExitCode != cli.ExitAPI {
		t.Fatalf("exit %d: %+v", code, outs)
	}
	// Loosely: the hanging cluster costs about its request timeout, the others answer long before.
	took := func(o fleet.Outcome[lease.Status]) time.Duration {
		return o.Duration.Duration()
	}
	if d := took(outs[2]); d < timeout || d > timeout+5*time.Second {
		t.Errorf("the hanging cluster took %s with --request-timeout %s", d, timeout)
	}
	for _, o := range outs[:2] {
		if o.Result == nil || took(o) >= took(outs[2]) {
			t.Errorf("%s waited for the hanging cluster: %s, error %q", o.Context, took(o), o.Error)
		}
	}
	tty := shown.String()
	if !strings.Contains(tty, "\r\033[K2/3 clusters answered") || !strings.HasSuffix(tty, "\r\033[Kerror: lease: 2 of 3 clusters not OK: stale (unhealthy), hanging (unreachable)\r\n") {
		t.Errorf("terminal showed %q", tty)
	}
}
