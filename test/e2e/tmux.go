package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RunKarpctlEnv, set to 1, makes a test binary karpctl itself (commands.Main, as cmd/karpctl runs it):
// the TestMain of a package that runs karpctl on a terminal checks it first.
const RunKarpctlEnv = "KARPCTL_E2E_RUN_KARPCTL"

// Tmux is a tmux server of the test's own (its own socket) with one window running karpctl.
type Tmux struct {
	socket string
}

// StartTmux runs `karpctl ARGS` (this test binary as karpctl, see RunKarpctlEnv) with environ added
// to its environment, in a shell in a new tmux window of width×height; the shell prints
// "karpctl exited CODE" when karpctl ends. The server is killed when the test ends.
func StartTmux(t testing.TB, width, height int, environ []string, args ...string) *Tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed to drive karpctl on a terminal (.ci/run installs it): ", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	x := &Tmux{socket: fmt.Sprintf("karpctl-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1000000)}
	cmd := fmt.Sprintf("env %s %s=1 %s %s; echo karpctl exited $?; sleep 600",
		strings.Join(environ, " "), RunKarpctlEnv, self, strings.Join(args, " "))
	x.run(t, "new-session", "-d", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), "-s", "karpctl", "sh", "-c", cmd)
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", x.socket, "kill-server").Run() })
	return x
}

func (x *Tmux) run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", x.socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// Screen is what the window shows now; with escapes, its colours and attributes as escape sequences.
func (x *Tmux) Screen(t testing.TB, escapes bool) string {
	t.Helper()
	args := []string{"capture-pane", "-p", "-t", "karpctl"}
	if escapes {
		args = append(args, "-e")
	}
	return x.run(t, args...)
}

// WaitFor waits until the window shows every text at once and returns the screen.
func (x *Tmux) WaitFor(ctx context.Context, t testing.TB, texts ...string) string {
	t.Helper()
	return x.WaitUntil(ctx, t, fmt.Sprintf("%q", texts), func(s string) bool {
		for _, text := range texts {
			if !strings.Contains(s, text) {
				return false
			}
		}
		return true
	})
}

// WaitUntil waits until cond holds for the screen and returns it.
func (x *Tmux) WaitUntil(ctx context.Context, t testing.TB, what string, cond func(screen string) bool) string {
	t.Helper()
	t0 := time.Now()
	for {
		s := x.Screen(t, false)
		if cond(s) {
			t.Logf("shown after %v: %s", time.Since(t0).Round(time.Millisecond), what)
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the screen never showed %s; it shows:\n%s", what, s)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Keys types keys (tmux send-keys names: "q", "Enter", "Escape", "Down").
func (x *Tmux) Keys(t testing.TB, keys ...string) {
	t.Helper()
	x.run(t, append([]string{"send-keys", "-t", "karpctl"}, keys...)...)
}
