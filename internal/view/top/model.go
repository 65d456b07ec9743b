package top

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
)

// model is the bubbletea model: the last screen and what the user chose (cursor, filter, sort).
type model struct {
	// live explains pending pods (nil in tests: the plan's line is shown instead).
	live   *top.Live
	shared *shared
	st     output.Styles
	screen *top.Screen
	width  int
	height int
	// cursor indexes the navigable rows (the filtered nodes, then the pending pods); offset is
	// the first one shown.
	cursor, offset int
	filter         string
	filtering      bool
	help           bool
	// detail is the text Enter shows, "" when closed.
	detail string

	// Memos: the filtered rows of (screen, filter) and the panels of (screen, size), so that a key
	// press costs neither a pass over every node nor a redraw of the panels.
	rowsOf     *top.Screen
	rowsFilter string
	nodesMemo  []top.NodeRow
	panelsOf   *top.Screen
	panelsSize [2]int
	panelsMemo [3][]string
}

func newModel(live *top.Live, v top.View, st output.Styles) *model {
	sh := &shared{poke: make(chan struct{}, 1)}
	sh.view.Store(&v)
	return &model{live: live, shared: sh, st: st, width: 80, height: 24}
}

func (m *model) Init() tea.Cmd { return nil }

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case screenMsg:
		m.screen = msg.s
		m.clamp()
	case explainMsg:
		if m.detail != "" {
			m.detail = msg.text
		}
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.clamp()
	case tea.KeyMsg:
		return m, m.keys(msg)
	}
	return m, nil
}

// keys handles a key message. Keys typed faster than the terminal is read arrive as one message
// of several runes ("/top-b"): each is its own key, as if typed slowly.
func (m *model) keys(k tea.KeyMsg) tea.Cmd {
	if k.Type != tea.KeyRunes || len(k.Runes) < 2 || k.Paste {
		return m.key(k)
	}
	var cmds []tea.Cmd
	for _, r := range k.Runes {
		if cmd := m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: k.Alt}); cmd != nil {
			cmds = append(cmds, cmd)
		}
	}
	switch len(cmds) {
	case 0:
		return nil
	case 1:
		return cmds[0]
	}
	return tea.Sequence(cmds...)
}

// key handles one key press.
func (m *model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.filtering {
		switch k.Type {
		case tea.KeyEnter, tea.KeyEsc:
			m.filtering = false
			if k.Type == tea.KeyEsc {
				m.filter = ""
			}
		case tea.KeyBackspace:
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		case tea.KeyRunes, tea.KeySpace:
			m.filter += string(k.Runes)
		}
		m.cursor, m.offset = 0, 0
		return nil
	}
	if m.detail != "" || m.help {
		m.detail, m.help = "", false
		if k.String() != "q" {
			return nil
		}
	}
	switch k.String() {
	case "q":
		return tea.Quit
	case "up", "k":
		m.cursor--
	case "down", "j":
		m.cursor++
	case "pgup":
		m.cursor -= m.listHeight()
	case "pgdown", " ":
		m.cursor += m.listHeight()
	case "home", "g":
		m.cursor = 0
	case "end", "G":
		m.cursor = 1 << 30
	case "/":
		m.filtering, m.filter = true, ""
	case "s":
		v := *m.shared.view.Load()
		v.Sort = top.NextSort(v.Sort)
		m.shared.view.Store(&v)
		if m.screen != nil {
			// Re-sort what is on screen now; the next build agrees.
			s := *m.screen
			s.Sort = string(v.Sort)
			m.screen = &s
		}
		m.shared.wake()
	case "p":
		m.shared.paused.Store(!m.shared.paused.Load())
		m.shared.wake()
	case "?", "h":
		m.help = true
	case "enter":
		m.detail = m.describe()
		return m.explain()
	}
	m.clamp()
	return nil
}

// rows are the navigable rows: the nodes matching the filter, then the pending pods.
func (m *model) rows() ([]top.NodeRow, []top.PendingPod) {
	if m.screen == nil {
		return nil, nil
	}
	if m.rowsOf == m.screen && m.rowsFilter == m.filter {
		return m.nodesMemo, m.screen.Pending
	}
	nodes := m.screen.Nodes
	if m.filter != "" {
		nodes = nil
		for _, n := range m.screen.Nodes {
			if n.Matches(m.filter) {
				nodes = append(nodes, n)
			}
		}
	}
	m.rowsOf, m.rowsFilter, m.nodesMemo = m.screen, m.filter, nodes
	return nodes, m.screen.Pending
}

func (m *model) clamp() {
	nodes, pods := m.rows()
	m.cursor = max(0, min(m.cursor, len(nodes)+len(pods)-1))
	m.offset = max(0, min(m.offset, len(nodes)-1))
	if m.cursor >= len(nodes) {
		// On a pending pod: the nodes stay where they were.
		return
	}
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	nodeLines, _ := m.split(len(pods))
	for m.offset < m.cursor && m.nodeLinesOf(nodes[m.offset:m.cursor+1]) > nodeLines {
		m.offset++
	}
}

// describe is what Enter shows for the row under the cursor.
func (m *model) describe() string {
	nodes, pods := m.rows()
	switch {
	case m.cursor < len(nodes):
		n := nodes[m.cursor]
		why := n.Disruption
		if why == "" {
			why = "disruption not computed yet"
		}
		return fmt.Sprintf("node %s (NodePool %s, %s, %s, %s)\n\nDisruption: %s\n\nMarks: %s",
			n.Name, or(n.NodePool, "none"), n.InstanceType, n.Zone, n.CapacityType, why, or(Marks(m.st, n, true), "none"))
	case m.cursor-len(nodes) < len(pods):
		p := pods[m.cursor-len(nodes)]
		return fmt.Sprintf("pending pod %s/%s, pending for %s\n\nPlan: %s", p.Namespace, p.Name, age(p.Age.Duration()), or(p.Plan, "not planned yet"))
	}
	return ""
}

func (m *model) View() string {
	if m.screen == nil {
		return "karpctl top: reading the cluster…"
	}
	switch {
	case m.help:
		return strings.Join(clip(strings.Split(helpText, "\n"), m.width), "\n")
	case m.detail != "":
		lines := clip(strings.Split(m.detail+"\n\n(any key to go back)", "\n"), m.width)
		return strings.Join(lines[:min(len(lines), m.height)], "\n")
	}
	return m.layout()
}

const helpText = `karpctl top — keys

  ↑/↓ j/k      move            PgUp/PgDn   page
  /            filter nodes (name, NodePool, type, zone, capacity type); Enter keeps it, Esc clears
  s            sort: nodepool → creation → price → fill
  p            pause / resume the screen
  Enter        why the node goes or stays; explain for a pending pod
  ?            this help       q, Ctrl-C   quit

Marks: C cordoned, N do-not-disrupt, D drifted, ⇢METHOD Karpenter's disruption takes the node now.
NodePool BUDGET: nodes each disruption reason may take now (D Drifted, E Empty, U Underutilized).

(any key to go back)`
