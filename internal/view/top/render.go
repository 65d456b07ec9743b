// Package top renders `karpctl top`: the screen as text (one snapshot, --once or not a terminal)
// and the full-screen bubbletea program that redraws it as the model changes.
package top

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/internal/view"
)

// Write prints one snapshot of the screen, every node, at width (0: 100 columns).
func Write(w io.Writer, st output.Styles, s *top.Screen, width int) error {
	if width <= 0 {
		width = 100
	}
	var lines []string
	lines = append(lines, Header(st, s, width)...)
	lines = append(lines, "")
	lines = append(lines, NodePools(st, s, width)...)
	lines = append(lines, "")
	nodes := Nodes(st, s, s.Nodes, width, -1)
	lines = append(lines, nodes...)
	lines = append(lines, "")
	lines = append(lines, Next(st, s, width)...)
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, strings.TrimRight(l, " ")); err != nil {
			return err
		}
	}
	return nil
}

// Header is the cluster, Karpenter's leader, the cost and the pending pods.
func Header(st output.Styles, s *top.Screen, width int) []string {
	k := s.Karpenter
	title := st.Bold.Render("karpctl top") + "  cluster " + or(s.Cluster, "?")
	if s.Context != "" && s.Context != s.Cluster {
		title += " (context " + s.Context + ")"
	}
	title += "  " + s.ObservedAt.Format("15:04:05")
	lines := []string{title}
	var leader string
	switch {
	case k.Error != "":
		leader = "Karpenter " + st.Fail.Render("not found") + ": " + k.Error
	case k.Lease == nil:
		leader = fmt.Sprintf("Karpenter %s %s/%s  leader election disabled", or(k.Version, "?"), k.Namespace, k.Deployment)
	default:
		l := k.Lease
		leader = fmt.Sprintf("Karpenter %s  leader %s", or(k.Version, "?"), or(k.Leader, "none"))
		if k.LeaderFor > 0 {
			leader += " for " + age(time.Duration(k.LeaderFor))
		}
		leader += "  lease " + st.Status(string(l.Verdict))
		if l.RenewTime != nil {
			leader += fmt.Sprintf(" (renewed %s ago)", age(time.Duration(l.RenewAge)))
		}
		if !l.OK() && l.Reason != "" {
			leader += ": " + l.Reason
		}
	}
	// The leader line wraps rather than losing the lease's verdict at its end on a narrow terminal.
	lines = clip(lines, width)
	lines = append(lines, wrap(output.Style{}, leader, width, "  ")...)
	if ks := s.KarpenterSettings; ks != nil && (len(ks.NonDefault()) > 0 || len(ks.Warnings) > 0) {
		// Karpenter's defaults take no line. Read once when top started: a change to the Deployment
		// shows after a restart of top.
		lines = append(lines, wrap(output.Style{}, "Settings: "+view.SettingsSummary(ks, "read at start"), width, "  ")...)
		for _, w := range ks.Warnings {
			lines = append(lines, wrap(st.Warn, "  ! "+w, width, "    ")...)
		}
	}
	cost := fmt.Sprintf("Cost %s/h  %s/month   Pending pods %d", money(s.PricePerHour), money(s.PricePerMonth), s.PendingPods)
	lines = append(lines, clip([]string{cost}, width)...)
	if c := s.Connection; c.Lost {
		since := ""
		if c.Since != nil {
			since = " since " + c.Since.Format("15:04:05")
		}
		lines = append(lines, wrap(st.Fail, "API server unreachable"+since+": stale, showing the last data received", width, "  ")...)
		lines = append(lines, wrap(st.Dim, "  "+c.Error, width, "  ")...)
	}
	return append(lines, forbiddenLines(st, s, "header", "Leader unknown", width)...)
}

// NodePools is one row per NodePool.
func NodePools(st output.Styles, s *top.Screen, width int) []string {
	if f := forbiddenLines(st, s, "nodepools", "NodePools not shown", width); len(f) > 0 {
		return append([]string{st.Bold.Render("NODEPOOLS")}, f...)
	}
	bar := barWidth(width)
	t := output.Table{Headers: []string{"NODEPOOL", "NODES"}}
	for _, r := range s.Resources {
		t.Headers = append(t.Headers, strings.ToUpper(r))
	}
	t.Headers = append(t.Headers, "LIMITS", "$/H", "BUDGET")
	for _, np := range s.NodePools {
		row := []string{np.Name, fmt.Sprint(np.Nodes)}
		for _, r := range s.Resources {
			u := np.Usage[r]
			row = append(row, Bar(st, u.Fill(), bar)+" "+quantity(r, u.Requested)+"/"+quantity(r, u.Allocatable))
		}
		limit := "-"
		if np.LimitUse != nil {
			limit = Bar(st, *np.LimitUse, bar) + fmt.Sprintf(" %.0f%% %s", *np.LimitUse*100, np.LimitResource)
		}
		row = append(row, limit, price(np.PricePerHour), budget(np.BudgetAllowed))
		t.Rows = append(t.Rows, row)
	}
	return clip(table(st, t), width)
}

func budget(b map[string]int) string {
	if b == nil {
		return "…"
	}
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k[:1], b[k]))
	}
	return strings.Join(parts, " ")
}

// Next is what Karpenter would launch and disrupt, and when that was computed.
func Next(st output.Styles, s *top.Screen, width int) []string {
	lines := []string{st.Bold.Render("NEXT") + st.Dim.Render(fmt.Sprintf("  (recomputed at most every %s when the cluster changes)", s.Next.Interval))}
	if f := forbiddenLines(st, s, "nodes", "No prediction", width); len(f) > 0 {
		return append(clip(lines, width), f...)
	}
	l, d := s.Next.Launch, s.Next.Disrupt
	if l == nil {
		return clip(append(lines, "  computing…"), width)
	}
	launch := "  launch:  "
	switch {
	case l.Error != "":
		launch += st.Fail.Render(l.Error)
	case l.PendingPods == 0:
		launch += "nothing (no pending pods)"
	default:
		launch += fmt.Sprintf("%d NodeClaims %s/h for %d pending pods", l.NewNodeClaims, price(l.PricePerHour), l.PendingPods)
		if l.OnExisting > 0 {
			launch += fmt.Sprintf(", %d onto existing nodes", l.OnExisting)
		}
		if l.Unschedulable > 0 {
			launch += ", " + st.Warn.Render(fmt.Sprintf("%d unschedulable", l.Unschedulable))
		}
	}
	lines = append(lines, launch+st.Dim.Render(computed(l.Computed)))
	for _, g := range l.Groups {
		lines = append(lines, fmt.Sprintf("    %d× %s %s %s %s  %s/h  %d pods", g.Count, g.NodePool, g.InstanceType, g.Zone, g.CapacityType, price(g.PricePerHour), g.Pods))
	}
	dis := "  disrupt: "
	switch {
	case d.Error != "":
		dis += st.Fail.Render(d.Error)
	case d.Method == "":
		dis += "nothing now"
	default:
		dis += fmt.Sprintf("%s %s %s (%s)", d.Method, d.Decision, strings.Join(d.Nodes, ", "), d.Reason)
		if d.Replacements > 0 {
			dis += fmt.Sprintf(", %d replacement(s)", d.Replacements)
		}
		dis += fmt.Sprintf(", saves %s/h", price(d.SavingsPerHour))
	}
	lines = append(lines, dis+st.Dim.Render(computed(d.Computed)))
	lines = clip(lines, width)
	for _, w := range s.Warnings {
		lines = append(lines, wrap(st.Warn, "  warning: "+w, width, "    ")...)
	}
	return lines
}

func computed(c top.Computed) string {
	if c.At.IsZero() {
		return ""
	}
	return fmt.Sprintf("  [%s, %s]", c.At.Format("15:04:05"), c.Took)
}

// forbiddenLines say, for each kind the panel needs and may not read, what is missing and the
// grant that would show it, the grant on a line of its own so that it reads whole.
func forbiddenLines(st output.Styles, s *top.Screen, panel, what string, width int) []string {
	var out []string
	for _, f := range s.Forbidden {
		if f.Panel == panel {
			out = append(out, wrap(st.Warn, "  "+what+": "+f.Resource+" is forbidden; to show it", width, "    ")...)
			out = append(out, wrap(st.Warn, "    "+f.Grant, width, "    ")...)
		}
	}
	return out
}

// wrap breaks text into lines of at most width columns at spaces (mid-word only when a word is
// wider than a line), continuation lines indented, each line styled.
func wrap(style output.Style, text string, width int, indent string) []string {
	lead := len(text) - len(strings.TrimLeft(text, " "))
	first, rest := text[:lead], strings.TrimLeft(text, " ")
	var out []string
	for i, l := range strings.Split(ansi.Wrap(rest, max(1, width-max(lead, len(indent))), ""), "\n") {
		prefix := indent
		if i == 0 {
			prefix = first
		}
		out = append(out, style.Render(prefix+strings.TrimRight(l, " ")))
	}
	return out
}

// table renders t into lines.
func table(st output.Styles, t output.Table) []string {
	var b strings.Builder
	_ = t.Render(&b, st)
	return strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
}

// clip cuts every line to width display columns (ANSI-aware).
func clip(lines []string, width int) []string {
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "…")
		}
	}
	return lines
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
