package drill

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
)

// terminal is karpctl running with a pseudo-terminal of its own as standard input, output and error:
// it leads a new session whose controlling terminal that is, so the drill sees a terminal, and a ^C
// typed into it reaches karpctl as SIGINT from the terminal's line discipline, as at a keyboard. No
// shell sits in between: script(1) ran the command through sh, and dash, killed by the same SIGINT,
// turned karpctl's exit 2 into 130.
type terminal struct {
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	shown  bytes.Buffer
	read   chan struct{} // closed once the output is read to its end
}

// startOnTerminal runs the karpctl test binary with args on a new pseudo-terminal.
func startOnTerminal(ctx context.Context, t *testing.T, args ...string) *terminal {
	t.Helper()
	master, slave, err := harness.OpenPTY()
	if err != nil {
		t.Fatalf("pseudo-terminal: %v", err)
	}
	karpctl, environ := karpctlProcess(t)
	tm := &terminal{cmd: exec.CommandContext(ctx, karpctl, args...), master: master, read: make(chan struct{})}
	tm.cmd.Env = environ
	tm.cmd.Stdin, tm.cmd.Stdout, tm.cmd.Stderr = slave, slave, slave
	tm.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	err = tm.cmd.Start()
	slave.Close() // the child has its own; the master reads EIO once the child's are closed
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	go func() {
		defer close(tm.read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			tm.mu.Lock()
			tm.shown.Write(buf[:n])
			tm.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if tm.cmd.ProcessState == nil {
			_ = tm.cmd.Process.Kill()
			_ = tm.cmd.Wait()
		}
		master.Close()
	})
	return tm
}

// Shown is everything the terminal has displayed so far.
func (tm *terminal) Shown() string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return tm.shown.String()
}

// WaitFor waits until the terminal displays text.
func (tm *terminal) WaitFor(ctx context.Context, t *testing.T, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !harness.WaitFor(ctx, func() bool { return bytes.Contains([]byte(tm.Shown()), []byte(text)) }) {
		t.Fatalf("the terminal never showed %q:\n%s", text, tm.Shown())
	}
}

// Type sends keys as if typed: the line discipline echoes them, and ^C (0x03) becomes SIGINT.
func (tm *terminal) Type(t *testing.T, keys string) {
	t.Helper()
	if _, err := tm.master.WriteString(keys); err != nil {
		t.Fatal(err)
	}
}

// Exit waits up to timeout for karpctl to end and returns its exit code (-1 if a signal killed it)
// and all it displayed.
func (tm *terminal) Exit(t *testing.T, timeout time.Duration) (int, string) {
	t.Helper()
	exited := make(chan struct{})
	go func() { _ = tm.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(timeout):
		t.Fatalf("karpctl did not end within %s:\n%s", timeout, tm.Shown())
	}
	select {
	case <-tm.read:
	case <-time.After(5 * time.Second): // the output is complete once the child's side is closed
	}
	return tm.cmd.ProcessState.ExitCode(), tm.Shown()
}
