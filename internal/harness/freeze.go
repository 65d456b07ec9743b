package harness

import (
	"errors"
	"sync"
)

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
