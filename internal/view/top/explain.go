package top

import (
	"context"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/karpctl/karpctl/internal/view"
)

// explainMsg is a pending pod's explanation, rendered.
type explainMsg struct{ text string }

// explain runs `explain` for the pending pod under the cursor in the background (a plan and one
// run per blocking constraint: seconds on a large cluster); the detail shows plan's line meanwhile.
func (m *model) explain() tea.Cmd {
	nodes, pods := m.rows()
	i := m.cursor - len(nodes)
	if m.live == nil || i < 0 || i >= len(pods) {
		return nil
	}
	p := pods[i]
	m.detail += "\n\nexplaining…"
	live, st := m.live, m.st
	return func() tea.Msg {
		r, err := live.ExplainPod(context.Background(), p.Namespace, p.Name)
		if err != nil {
			return explainMsg{"explain " + p.Namespace + "/" + p.Name + ": " + err.Error()}
		}
		var b strings.Builder
		if err := view.Explain(&b, st, *r, false); err != nil {
			return explainMsg{err.Error()}
		}
		return explainMsg{strings.TrimRight(b.String(), "\n")}
	}
}
