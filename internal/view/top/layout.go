package top

import (
	"fmt"
	"strings"
	"time"

	"github.com/karpctl/karpctl/internal/top"
)

// panels are the parts of the screen above and below the scrolled list, cut to fit the height:
// the NodePools take at most a quarter of it, Next at most six lines.
func (m *model) panels() (head, pools, next []string, foot string) {
	s := m.screen
	if m.panelsOf != s || m.panelsSize != [2]int{m.width, m.height} {
		head = Header(m.st, s, m.width)
		pools = NodePools(m.st, s, m.width)
		if limit := max(2, m.height/4); len(pools) > limit {
			more := len(pools) - limit + 1
			pools = append(pools[:limit-1], m.st.Dim.Render(fmt.Sprintf("  … %d more NodePools", more)))
		}
		next = Next(m.st, s, m.width)
		if len(next) > 6 {
			next = next[:6]
		}
		m.panelsOf, m.panelsSize, m.panelsMemo = s, [2]int{m.width, m.height}, [3][]string{head, pools, next}
	}
	return m.panelsMemo[0], m.panelsMemo[1], m.panelsMemo[2], m.footer()
}

func (m *model) footer() string {
	var parts []string
	if m.shared.paused.Load() {
		parts = append(parts, m.st.Warn.Render("PAUSED (p resumes)"))
	}
	if m.filtering {
		parts = append(parts, "filter: "+m.filter+"▏")
	} else if m.filter != "" {
		parts = append(parts, "filter: "+m.filter)
	}
	parts = append(parts, "sort: "+m.screen.Sort, m.st.Dim.Render("↑↓ move  / filter  s sort  p pause  Enter why  ? help  q quit"))
	return clip([]string{strings.Join(parts, "  ")}, m.width)[0]
}

// listLines is how many lines the nodes and the pending pods share: what the panels, the three
// blank separators and the footer leave.
func (m *model) listLines() int {
	if m.screen == nil {
		return 10
	}
	head, pools, next, _ := m.panels()
	return max(2, m.height-len(head)-len(pools)-len(next)-4)
}

// split shares the list's lines: pending pods, when there are any, get a heading and up to half
// the lines (at least one pod's), so that a burst of them shows however many nodes there are;
// the nodes get the rest.
func (m *model) split(pods int) (nodeLines, podLines int) {
	all := m.listLines()
	if pods > 0 {
		podLines = min(pods+1, max(2, all/2))
	}
	return max(1, all-podLines), podLines
}

// listHeight is how many node rows a page moves.
func (m *model) listHeight() int {
	_, pods := m.rows()
	n, _ := m.split(len(pods))
	return max(1, n-1)
}

// nodeLinesOf is how many lines rows take in the nodes table: its heading, the rows and, when
// grouped, a heading per NodePool.
func (m *model) nodeLinesOf(rows []top.NodeRow) int {
	n := 1 + len(rows)
	if m.screen != nil && m.screen.Sort == string(top.SortNodePool) {
		for i := range rows {
			if i == 0 || rows[i].NodePool != rows[i-1].NodePool {
				n++
			}
		}
	}
	return n
}

// layout draws the screen at the terminal's size.
func (m *model) layout() string {
	head, pools, next, foot := m.panels()
	nodes, pods := m.rows()
	nodeLines, podLines := m.split(len(pods))
	// The nodes from offset that fit.
	end := m.offset
	for end < len(nodes) && m.nodeLinesOf(nodes[m.offset:end+1]) <= nodeLines {
		end++
	}
	list := Nodes(m.st, m.screen, nodes[min(m.offset, len(nodes)):end], m.width, m.cursor-m.offset)
	list = pad(list, nodeLines)
	if podLines > 0 {
		shown := podLines - 1
		first := 0
		if c := m.cursor - len(nodes); c >= shown {
			first = c - shown + 1
		}
		heading := "PENDING PODS"
		if len(pods) > shown {
			heading += fmt.Sprintf(" (%d–%d of %d)", first+1, min(first+shown, len(pods)), len(pods))
		}
		list = append(list, m.st.Bold.Render(heading))
		for i := first; i < min(first+shown, len(pods)); i++ {
			p := pods[i]
			cursor := "  "
			if i+len(nodes) == m.cursor {
				cursor = "▸ "
			}
			list = append(list, clip([]string{fmt.Sprintf("%s%s/%s  %s  %s", cursor, p.Namespace, p.Name, age(time.Duration(p.Age)), m.st.Dim.Render(or(p.Plan, "…")))}, m.width)...)
		}
	}
	list = pad(list, nodeLines+podLines)
	all := make([]string, 0, m.height+8)
	all = append(append(append(append(append(append(all, head...), ""), pools...), ""), list...), "")
	all = append(append(all, next...), foot)
	if len(all) > m.height {
		all = all[:m.height]
	}
	return strings.Join(all, "\n")
}

// pad cuts or fills lines to n.
func pad(lines []string, n int) []string {
	if len(lines) > n {
		return lines[:n]
	}
	for len(lines) < n {
		lines = append(lines, "")
	}
	return lines
}
