package view

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
)

// Disrupt prints what Karpenter's disruption controller would do now: the first command (every
// method's with --all), the budgets, why every other Karpenter node stays, warnings and totals. wide
// lists every pod that would move.
func Disrupt(w io.Writer, s output.Styles, r engine.DisruptReport, wide bool) error {
	var b strings.Builder
	src := r.Mode
	if len(r.Files) > 0 {
		src += ", files " + strings.Join(r.Files, ",")
	}
	fmt.Fprintf(&b, "%s %d Karpenter nodes with Karpenter %s's disruption methods, catalog %s (%s)\n",
		s.Bold.Render("Disruption (dry run):"), r.Totals.KarpenterNodes, r.EngineVersion, r.Catalog, src)
	karpenterSettings(&b, s, r.KarpenterSettings)
	if r.IgnoreConsolidateAfter {
		b.WriteString("What if: every NodeClaim Consolidatable (--ignore-consolidate-after)\n")
	}

	for i, c := range r.Commands {
		title := "Karpenter would execute now"
		if i > 0 {
			title = "Then proposed"
		}
		fmt.Fprintf(&b, "\n%s %s: %s %d node(s) (%s), saving %s/h\n", s.Bold.Render(title+":"), c.Method, c.Decision, len(c.Candidates), c.Reason, price(c.SavingsPerHour))
		t := output.Table{Headers: []string{"NODE", "NODEPOOL", "INSTANCE TYPE", "ZONE", "CAPACITY", "$/H", "PODS", "WHERE THEY GO"}}
		for _, cn := range c.Candidates {
			t.Rows = append(t.Rows, []string{cn.Node, cn.NodePool, cn.InstanceType, cn.Zone, cn.CapacityType, price(cn.PricePerHour),
				strconv.Itoa(len(cn.Pods)), destinationsSummary(cn.Pods, wide)})
		}
		t.Render(&b, s)
		if len(c.Replacements) > 0 {
			b.WriteString("  Replacements:\n")
			rt := output.Table{Headers: []string{"INSTANCE TYPE", "OTHER OPTIONS", "ZONE", "CAPACITY", "$/H", "PODS"}}
			for _, nc := range c.Replacements {
				rt.Rows = append(rt.Rows, []string{instanceTypeLabel(nc), "+" + strconv.Itoa(nc.OtherInstanceTypes), nc.Zone, capacityLabel(nc), price(nc.PricePerHour), strconv.Itoa(len(nc.Pods))})
			}
			rt.Render(&b, s)
		}
	}
	if len(r.Commands) == 0 {
		b.WriteString("\n" + s.OK.Render("Consolidated:") + " Karpenter would disrupt nothing now\n")
	}

	if len(r.Budgets) > 0 {
		b.WriteString("\n" + s.Bold.Render("Budgets") + " (disruptions allowed now)\n")
		t := output.Table{Headers: []string{"NODEPOOL", "REASON", "ALLOWED", "NODES", "DISRUPTING", "ACTIVE BUDGETS"}}
		for _, bu := range r.Budgets {
			t.Rows = append(t.Rows, []string{bu.NodePool, bu.Reason, strconv.Itoa(bu.Allowed), strconv.Itoa(bu.Nodes), strconv.Itoa(bu.Disrupting), cmp.Or(strings.Join(bu.Active, "; "), "-")})
		}
		t.Render(&b, s)
	}

	if len(r.Staying) > 0 {
		b.WriteString("\n" + s.Bold.Render("Why the other nodes stay") + "\n")
		t := output.Table{Headers: []string{"NODE", "NODEPOOL", "REASON"}}
		for _, st := range r.Staying {
			t.Rows = append(t.Rows, []string{st.Node, cmp.Or(st.NodePool, "-"), st.Reason})
		}
		t.Render(&b, s)
	}

	writeWarnings(&b, s, r.Warnings)

	t := r.Totals
	fmt.Fprintf(&b, "\n%s %d of %d Karpenter nodes disrupted by the next command (%d replacements), %d stay; saving %s/h\n",
		s.Bold.Render("Total:"), t.Disrupted, t.KarpenterNodes, t.Replacements, t.Staying, price(t.SavingsPerHour))
	_, err := io.WriteString(w, b.String())
	return err
}

// destinationsSummary says where a candidate's pods go: counted by destination, or (wide) each pod.
func destinationsSummary(pods []engine.PodMove, wide bool) string {
	if len(pods) == 0 {
		return "-"
	}
	if wide {
		parts := make([]string, len(pods))
		for i, p := range pods {
			parts[i] = p.Pod + " → " + p.To
		}
		return strings.Join(parts, ", ")
	}
	var order []string
	count := map[string]int{}
	for _, p := range pods {
		if count[p.To] == 0 {
			order = append(order, p.To)
		}
		count[p.To]++
	}
	parts := make([]string, len(order))
	for i, to := range order {
		parts[i] = fmt.Sprintf("%d → %s", count[to], to)
	}
	return strings.Join(parts, ", ")
}
