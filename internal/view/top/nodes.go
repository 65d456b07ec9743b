package top

import (
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
)

// Nodes is the nodes table: grouped under their NodePool when sorted by NodePool, the selected row
// (index into rows, -1 for none) marked. Narrower screens drop capacity type, zone and age.
func Nodes(st output.Styles, s *top.Screen, rows []top.NodeRow, width, selected int) []string {
	if f := forbiddenLines(st, s, "nodes", "Nodes not shown", width); len(f) > 0 {
		return append([]string{st.Bold.Render("NODES")}, f...)
	}
	bar := barWidth(width)
	wide, mid := width >= 110, width >= 100
	t := output.Table{Headers: []string{"  NODE"}}
	for _, r := range s.Resources {
		t.Headers = append(t.Headers, strings.ToUpper(r))
	}
	t.Headers = append(t.Headers, "TYPE")
	if mid {
		t.Headers = append(t.Headers, "ZONE", "CAP")
	}
	t.Headers = append(t.Headers, "$/H")
	if wide {
		t.Headers = append(t.Headers, "PODS", "AGE")
	}
	t.Headers = append(t.Headers, "MARKS")
	grouped := s.Sort == string(top.SortNodePool)
	group := "\x00"
	var groupRows []int // table rows that are NodePool headings
	for i, n := range rows {
		if grouped && n.NodePool != group {
			group = n.NodePool
			groupRows = append(groupRows, len(t.Rows))
			t.Rows = append(t.Rows, []string{or(group, "(not Karpenter's)")})
		}
		cursor := "  "
		if i == selected {
			cursor = "▸ "
		}
		row := []string{cursor + n.Name}
		for _, r := range s.Resources {
			u := n.Usage[r]
			row = append(row, Bar(st, u.Fill(), bar)+fmt.Sprintf(" %3.0f%%", u.Fill()*100))
		}
		row = append(row, n.InstanceType)
		if mid {
			row = append(row, n.Zone, n.CapacityType)
		}
		p := "-"
		if n.PricePerHour != nil {
			p = price(*n.PricePerHour)
		}
		row = append(row, p)
		if wide {
			row = append(row, fmt.Sprint(n.Pods), age(time.Duration(n.Age)))
		}
		row = append(row, Marks(st, n, wide))
		t.Rows = append(t.Rows, row)
	}
	lines := table(st, t)
	for _, g := range groupRows {
		lines[g+1] = st.Info.Render(strings.TrimSpace(lines[g+1]))
	}
	return clip(lines, width)
}

// Marks are a node's marks: cordoned, do-not-disrupt, drifted, and the disruption method that
// would take it now.
func Marks(st output.Styles, n top.NodeRow, long bool) string {
	var m []string
	add := func(short, word string) {
		if long {
			m = append(m, word)
		} else {
			m = append(m, short)
		}
	}
	if n.Cordoned {
		add("C", "cordoned")
	}
	if n.DoNotDisrupt {
		add("N", "do-not-disrupt")
	}
	if n.Drifted {
		add("D", "drifted")
	}
	out := strings.Join(m, " ")
	if n.Disrupt != "" {
		out = strings.TrimSpace(out + " " + st.Warn.Render("⇢"+n.Disrupt))
	}
	return out
}

// Bar is a bar of width cells filled to f (0–1; above 1 shows full, in red).
func Bar(st output.Styles, f float64, width int) string {
	if width <= 0 {
		return ""
	}
	full := int(math.Round(math.Min(math.Max(f, 0), 1) * float64(width)))
	b := strings.Repeat("█", full) + st.Dim.Render(strings.Repeat("░", width-full))
	if f > 1 {
		return st.Fail.Render(strings.Repeat("█", width))
	}
	return b
}

func barWidth(width int) int {
	switch {
	case width >= 110:
		return 12
	case width >= 80:
		return 8
	case width >= 60:
		return 5
	}
	return 3
}

// quantity prints an amount in its base unit as Kubernetes would (cores, Gi, counts).
func quantity(name string, v float64) string {
	switch name {
	case "cpu":
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	case "memory", "ephemeral-storage":
		return fmt.Sprintf("%.0fGi", v/(1<<30))
	}
	return resource.NewQuantity(int64(v), resource.DecimalSI).String()
}

func price(p float64) string { return fmt.Sprintf("$%.3f", p) }

func money(p float64) string {
	if p >= 100 {
		return fmt.Sprintf("$%.0f", p)
	}
	return fmt.Sprintf("$%.2f", p)
}

// age is kubectl's short age: 45s, 12m, 5h, 3d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
