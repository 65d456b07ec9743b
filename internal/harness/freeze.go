package harness

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

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

// FreezeAPIServer pauses the kube-apiserver (see Process.Pause) and returns the function that
// resumes it; calling that more than once is harmless. Tests register it with t.Cleanup at once, so
// a failing test never leaves the API server frozen for the tests after it.
func (e *Env) FreezeAPIServer() (thaw func() error, err error) {
	p := e.Process("kube-apiserver")
	if p == nil {
		return nil, errors.New("no kube-apiserver process in this harness")
	}
	if err := p.Pause(); err != nil {
		return nil, err
	}
	var once sync.Once
	var rerr error
	return func() error { once.Do(func() { rerr = p.Resume() }); return rerr }, nil
}
