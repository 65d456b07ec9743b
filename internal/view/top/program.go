package top

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
)

// screenMsg is a freshly built screen.
type screenMsg struct{ s *top.Screen }

// Run shows the live screen full-screen until q or Ctrl-C (exit 0) or ctx ends. Screens are built
// on their own goroutine — on every change, at most every 100 ms, and each second for the ages — so
// keys never wait for a build, and the predictions run on another.
func Run(ctx context.Context, live *top.Live, v top.View, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(live, v, output.StylesFor(out))
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithInput(in), tea.WithOutput(out), tea.WithContext(ctx))
	go live.RunPredictions(ctx)
	go feed(ctx, live, m.shared, p.Send)
	_, err := p.Run()
	if err != nil && (ctx.Err() != nil || errors.Is(err, tea.ErrInterrupted)) {
		return nil
	}
	return err
}

// shared is what the key handler and the builder goroutine share.
type shared struct {
	view   atomic.Pointer[top.View]
	paused atomic.Bool
	// poke asks for a build now (sort changed, unpaused).
	poke chan struct{}
}

func (s *shared) wake() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// feed builds screens and sends them to the program.
func feed(ctx context.Context, live *top.Live, sh *shared, send func(tea.Msg)) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	build := func() {
		if !sh.paused.Load() {
			send(screenMsg{top.Build(live.Input(*sh.view.Load(), time.Now()))})
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-live.Changed():
			build()
			// Coalesce a burst of changes: at most ten screens a second.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		case <-sh.poke:
			build()
		case <-tick.C:
			build()
		}
	}
}
