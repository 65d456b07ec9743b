package top

import (
	"fmt"
	"strings"
	"time"
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

// listHeight is how many node and pending-pod rows fit.
func (m *model) listHeight() int {
	if m.screen == nil {
		return 10
	}
	head, pools, next, _ := m.panels()
	// Three blank separators, the table heading and the footer.
	return max(1, m.height-len(head)-len(pools)-len(next)-5)
}

// layout draws the screen at the terminal's size.
func (m *model) layout() string {
	head, pools, next, foot := m.panels()
	h := max(1, m.height-len(head)-len(pools)-len(next)-5)
	nodes, pods := m.rows()
	var list []string
	end := min(m.offset+h, len(nodes)+len(pods))
	if m.offset < len(nodes) {
		window := nodes[m.offset:min(end, len(nodes))]
		list = Nodes(m.st, m.screen, window, m.width, m.cursor-m.offset)
	} else {
		list = []string{m.st.Bold.Render("  NODES")}
	}
	if end > len(nodes) {
		list = append(list, m.st.Bold.Render("PENDING PODS"))
		for i := max(m.offset, len(nodes)); i < end; i++ {
			p := pods[i-len(nodes)]
			cursor := "  "
			if i == m.cursor {
				cursor = "▸ "
			}
			list = append(list, fmt.Sprintf("%s%s/%s  %s  %s", cursor, p.Namespace, p.Name, age(time.Duration(p.Age)), m.st.Dim.Render(or(p.Plan, "…"))))
		}
		list = clip(list, m.width)
	}
	if len(list) > h+1 {
		list = list[:h+1]
	}
	for len(list) < h+1 {
		list = append(list, "")
	}
	all := make([]string, 0, m.height+8)
	all = append(append(append(append(append(append(all, head...), ""), pools...), ""), list...), "")
	all = append(append(all, next...), foot)
	if len(all) > m.height {
		all = all[:m.height]
	}
	return strings.Join(all, "\n")
}
