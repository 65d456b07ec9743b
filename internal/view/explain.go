package view

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/output"
)

// explainTopTypes is how many of the ranked instance types the tree shows (-o wide: all).
const explainTopTypes = 5

// Explain prints why the pod goes where it goes as a tree: the outcome, every NodePool in
// Karpenter's order with its verdict, each blocking constraint and the change that lifts it, and
// the ranking of instance types for the NodePool that launches.
func Explain(w io.Writer, s output.Styles, r explain.Report, wide bool) error {
	var b strings.Builder
	e := r.PodExplanation
	fmt.Fprintf(&b, "%s %s (requests %s) — Karpenter %s's scheduler, %s\n", s.Bold.Render("Pod"), e.Pod, requests(e.Requests), r.EngineVersion, r.Mode)
	karpenterSettings(&b, s, r.KarpenterSettings)
	b.WriteString(outcomeLine(s, e.Outcome) + "\n")
	if len(e.NodePools) > 0 {
		b.WriteString("\n" + s.Bold.Render("NodePools") + " (Karpenter's order: weight, then name)\n")
	}
	for i, v := range e.NodePools {
		last := i == len(e.NodePools)-1
		branch, indent := "├─ ", "│  "
		if last {
			branch, indent = "└─ ", "   "
		}
		fmt.Fprintf(&b, "%s%s (weight %d)  %s\n", branch, s.Key.Render(v.Name), v.Weight, verdictWord(s, v.Verdict))
		if v.NodeClaim != nil {
			fmt.Fprintf(&b, "%s%s\n", indent, s.Dim.Render("launches "+claimSummary(*v.NodeClaim)))
		}
		if v.Message != "" && ((v.Verdict != explain.VerdictBlocked && v.Verdict != explain.VerdictSkipped) || len(v.Reasons) == 0) {
			fmt.Fprintf(&b, "%s%s\n", indent, v.Message)
		}
		if v.Verdict == explain.VerdictBlocked && len(v.Reasons) == 0 {
			fmt.Fprintf(&b, "%s%s\n", indent, s.Warn.Render("no constraint explain can relax lets the pod schedule here; Karpenter's reason is above"))
		}
		if v.Alternatives {
			fmt.Fprintf(&b, "%s%s\n", indent, s.Dim.Render("any one of these changes is enough:"))
		}
		for j, reason := range v.Reasons {
			rb, ri := "├─ ", "│  "
			if j == len(v.Reasons)-1 {
				rb, ri = "└─ ", "   "
			}
			fmt.Fprintf(&b, "%s%s%s %s\n", indent, rb, s.Fail.Render(string(reason.Kind)+":"), reason.Message)
			fmt.Fprintf(&b, "%s%s%s %s\n", indent, ri, s.OK.Render("change:"), reason.Change)
		}
	}
	if c := e.InstanceTypes; c != nil {
		instanceTypeChoice(&b, s, c, wide)
		if o := e.Outcome; len(o.SharedWith) > 0 {
			fmt.Fprintf(&b, "The types are ranked for this pod alone; the plan's NodeClaim also carries %d other pending pod(s), so it is a %s.\n",
				len(o.SharedWith), o.NodeClaim.InstanceType)
		}
	}
	writeWarnings(&b, s, e.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

func outcomeLine(s output.Styles, o explain.Outcome) string {
	head := s.Bold.Render("Outcome:") + " "
	switch o.Kind {
	case explain.OutcomeRunning:
		return head + s.OK.Render("running") + " on node " + o.Node
	case explain.OutcomeExistingNode:
		return head + s.OK.Render("existing node") + " " + o.Node + shared(o.SharedWith)
	case explain.OutcomeNewNodeClaim:
		return head + s.OK.Render("new NodeClaim") + " of NodePool " + o.NodePool + ": " + claimSummary(*o.NodeClaim) + shared(o.SharedWith)
	}
	return head + s.Fail.Render("unschedulable") + " (" + o.Stage + ") — Karpenter: " + o.Reason
}

func shared(pods []string) string {
	if len(pods) == 0 {
		return ""
	}
	return fmt.Sprintf(", shared with %d other pending pod(s)", len(pods))
}

func claimSummary(nc engine.NodeClaimPlan) string {
	return fmt.Sprintf("%s %s %s %s/h (allocatable cpu %s, memory %s)", nc.InstanceType, nc.Zone, nc.CapacityType, price(nc.PricePerHour),
		cores(nc.CPUAllocatableMilli), gibBytes(nc.MemoryAllocatable))
}

func verdictWord(s output.Styles, v string) string {
	switch v {
	case explain.VerdictLaunches:
		return s.OK.Render("LAUNCHES")
	case explain.VerdictBlocked:
		return s.Fail.Render("BLOCKED")
	case explain.VerdictSkipped:
		return s.Warn.Render("SKIPPED")
	case explain.VerdictLaunchable:
		return s.Info.Render("COULD LAUNCH")
	}
	return s.Dim.Render("NOT NEEDED")
}

func instanceTypeChoice(b *strings.Builder, s output.Styles, c *explain.InstanceTypeChoice, wide bool) {
	r := c.Removed
	fmt.Fprintf(b, "\n%s NodePool %s: %d of %d instance types take the pod (removed: %d by requirements, %d without an offering, %d too small, %d over the limits)\n",
		s.Bold.Render("Why this instance type:"), c.NodePool, len(c.Compatible), c.Total, r.Requirements, r.NoOffering, r.TooSmall, r.OverLimit)
	t := output.Table{Headers: []string{"#", "INSTANCE TYPE", "CPU", "MEMORY", "$/H", "ZONE", "CAPACITY"}}
	for i, it := range c.Compatible {
		if !wide && i == explainTopTypes {
			t.Rows = append(t.Rows, []string{"…", fmt.Sprintf("%d more (-o wide)", len(c.Compatible)-i)})
			break
		}
		t.Rows = append(t.Rows, []string{strconv.Itoa(i + 1), it.Name, cores(it.CPUAllocatableMilli), gibBytes(it.MemoryAllocatable), price(it.PricePerHour), it.Zone, it.CapacityType})
	}
	t.Render(b, s)
}

func requests(rl corev1.ResourceList) string {
	var parts []string
	for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := rl[n]; ok {
			parts = append(parts, string(n)+" "+q.String())
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

func cores(m int64) string { return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64) }

func gibBytes(bytes int64) string {
	return strconv.FormatFloat(float64(bytes)/(1<<30), 'f', 1, 64) + "Gi"
}
