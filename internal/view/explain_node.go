package view

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/output"
)

// ExplainNode prints why a Karpenter node is what it is: the NodeClaim's requirements, where its type
// ranks among the types they allow, the pods on it, and Karpenter's disruption decision for it now.
func ExplainNode(w io.Writer, s output.Styles, r explain.NodeReport, wide bool) error {
	var b strings.Builder
	e := r.NodeExplanation
	name := e.Node
	if e.NodeClaim != "" {
		name += " (NodeClaim " + e.NodeClaim + ")"
	}
	fmt.Fprintf(&b, "%s %s — NodePool %s, %s in %s, %s; Karpenter %s, %s\n", s.Bold.Render("Node"), name, e.NodePool,
		e.InstanceType, e.Zone, e.CapacityType, r.EngineVersion, r.Mode)
	karpenterSettings(&b, s, r.KarpenterSettings)

	b.WriteString("\n" + s.Bold.Render("Requirements") + " (the NodeClaim's, as Karpenter created it)\n")
	if len(e.Requirements) == 0 {
		b.WriteString("  none known (no NodeClaim)\n")
	}
	for _, req := range e.Requirements {
		b.WriteString("  " + req + "\n")
	}

	if len(e.Options) > 0 {
		rank := "not among them now"
		if e.Rank > 0 {
			rank = "#" + strconv.Itoa(e.Rank)
		}
		fmt.Fprintf(&b, "\n%s %s is %s of the %d types they allow with a launchable offering, cheapest first\n",
			s.Bold.Render("Why this instance type:"), e.InstanceType, rank, len(e.Options))
		if e.Rank > 1 {
			b.WriteString(s.Dim.Render("  a cheaper type was allowed: the launch found no capacity for it, or a spot launch (price-capacity-optimized) chose by capacity, or prices moved since") + "\n")
		}
		t := output.Table{Headers: []string{"#", "INSTANCE TYPE", "CPU", "MEMORY", "$/H", "ZONE", "CAPACITY"}}
		for i, it := range e.Options {
			if !wide && i == explainTopTypes && e.Rank <= explainTopTypes {
				t.Rows = append(t.Rows, []string{"…", fmt.Sprintf("%d more (-o wide)", len(e.Options)-i)})
				break
			}
			if !wide && i >= explainTopTypes && i+1 != e.Rank {
				continue
			}
			mark := strconv.Itoa(i + 1)
			if i+1 == e.Rank {
				mark = "→" + mark
			}
			t.Rows = append(t.Rows, []string{mark, it.Name, cores(it.CPUAllocatableMilli), gibBytes(it.MemoryAllocatable), price(it.PricePerHour), it.Zone, it.CapacityType})
		}
		t.Render(&b, s)
	}

	fmt.Fprintf(&b, "\n%s %d (requests %s of allocatable %s)\n", s.Bold.Render("Pods:"), len(e.Pods), requests(e.Requested), requests(e.Allocatable))
	if len(e.Pods) > 0 {
		t := output.Table{Headers: []string{"POD", "CPU", "MEMORY", "OWNER"}}
		for i, p := range e.Pods {
			if !wide && i == 10 {
				t.Rows = append(t.Rows, []string{fmt.Sprintf("… %d more (-o wide)", len(e.Pods)-i)})
				break
			}
			owner := "-"
			if p.DaemonSet {
				owner = "DaemonSet"
			}
			t.Rows = append(t.Rows, []string{p.Pod, quantity(p.Requests, corev1.ResourceCPU), quantity(p.Requests, corev1.ResourceMemory), owner})
		}
		t.Render(&b, s)
	}

	d := e.Disruption
	b.WriteString("\n" + s.Bold.Render("Disruption now:") + " ")
	switch d.Decision {
	case "stays":
		b.WriteString(s.OK.Render("stays") + " — " + d.Reason)
		if d.Source != "" {
			b.WriteString(" (" + d.Source + ")")
		}
	default:
		b.WriteString(s.Warn.Render("Karpenter would "+d.Decision+" it") + " — " + d.Method + ": " + d.Reason)
	}
	b.WriteString("\n")
	writeWarnings(&b, s, e.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

func quantity(rl corev1.ResourceList, name corev1.ResourceName) string {
	if q, ok := rl[name]; ok {
		return q.String()
	}
	return "-"
}
