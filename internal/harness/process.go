package harness

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is one component started by the harness.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
}

func (e *Env) run(log io.Writer, name string, args ...string) (*Process, error) {
	path, err := Bin(name)
	if err != nil {
		return nil, err
	}
	return e.Run(log, name, path, nil, args...)
}

// Run starts a process the Env owns and stops with Stop. env entries are added to the harness's own.
func (e *Env) Run(log io.Writer, name, path string, env []string, args ...string) (*Process, error) {
	logPath := filepath.Join(e.Dir, name+".log")
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	exited, err := StartLogged(cmd, logPath, log)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { <-exited; close(p.done) }()
	e.Procs = append(e.Procs, p)
	return p, nil
}

// StartLogged starts cmd with its output appended to logPath, and copied to log when that is not nil.
// The process leads its own process group (a test's Ctrl-C reaches the harness, which then stops its
// children in order) and is killed when its parent dies; SysProcAttr set by the caller is kept. The
// channel yields Wait's error once the process has exited and its log is closed.
func StartLogged(cmd *exec.Cmd, logPath string, log io.Writer) (<-chan error, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	var out io.Writer = f
	if log != nil {
		out = io.MultiWriter(f, log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid, cmd.SysProcAttr.Pdeathsig = true, syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); f.Close(); exited <- err }()
	return exited, nil
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process: SIGTERM, then SIGKILL after grace. A paused process is resumed after the
// SIGTERM, which it would otherwise only act on once resumed.
func (p *Process) Stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill ends the process at once (SIGKILL), as a crash would.
func (p *Process) Kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Pause freezes the process with SIGSTOP (Linux): it keeps its sockets open and its connections up,
// and answers nothing until Resume — an API server that hangs rather than one that is down.
func (p *Process) Pause() error {
	if err := syscall.Kill(p.Cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pausing %s (pid %d): %w", p.Name, p.Cmd.Process.Pid, err)
	}
	return nil
}

// Resume continues a paused process (SIGCONT).
func (p *Process) Resume() error {
	if err := syscall.Kill(p.Cmd.Process.Pid, syscall.SIGCONT); err != nil && !p.exited() {
		return fmt.Errorf("resuming %s (pid %d): %w", p.Name, p.Cmd.Process.Pid, err)
	}
	return nil
}

// Process is the component started under name (e.g. "kube-apiserver"), nil when there is none.
func (e *Env) Process(name string) *Process {
	for _, p := range e.Procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Tail returns the last n lines of a file (or the error reading it), for start-up failure reports.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
