package output

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is a one-line counter ("7/20 clusters answered") on a terminal for an operation that
// runs past a delay: nothing before it (a quick answer stays clean), the line rewritten in place on
// each update after it, and erased by Done. On anything but a terminal it writes nothing, so
// redirected output never holds progress lines.
type Progress struct {
	w    io.Writer
	text func(done, total int) string

	mu          sync.Mutex
	shown, over bool
	done, total int
	timer       *time.Timer
}

// NewProgress starts a Progress on w that appears after the delay, when w is a terminal.
func NewProgress(w io.Writer, after time.Duration, text func(done, total int) string) *Progress {
	return newProgress(w, after, text, Terminal(w))
}

func newProgress(w io.Writer, after time.Duration, text func(done, total int) string, on bool) *Progress {
	p := &Progress{w: w, text: text}
	if !on {
		p.over = true
		return p
	}
	p.timer = time.AfterFunc(after, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.over {
			p.shown = true
			p.draw()
		}
	})
	return p
}

// Update records done of total and redraws the line once it is shown.
func (p *Progress) Update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done, p.total = done, total
	if p.shown && !p.over {
		p.draw()
	}
}

// Done erases the line (if it was shown); later updates write nothing.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.over {
		return
	}
	p.over = true
	p.timer.Stop()
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func (p *Progress) draw() { fmt.Fprintf(p.w, "\r\033[K%s", p.text(p.done, p.total)) }
