package view

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
)

// Plan prints the plan: new NodeClaims by NodePool, placements onto existing nodes, unschedulable
// pods by reason, warnings and totals. wide lists every NodeClaim and every placement.
func Plan(w io.Writer, s output.Styles, r engine.PlanReport, wide bool) error {
	var b strings.Builder
	src := r.Mode
	if r.Mode == "live" {
		if len(r.Namespaces) == 0 {
			src += ", all namespaces"
		} else {
			src += ", namespaces " + strings.Join(r.Namespaces, ",")
		}
	}
	if len(r.Files) > 0 {
		src += ", files " + strings.Join(r.Files, ",")
	}
	fmt.Fprintf(&b, "%s %d pending pods with Karpenter %s's scheduler, instance types %s (%s)\n",
		s.Bold.Render("Plan (dry run):"), r.Totals.PendingPods, r.EngineVersion, InstanceTypesFrom(r.Catalog, r.Region, r.AWSData, plansSpot(r.Result)), src)
	karpenterSettings(&b, s, r.KarpenterSettings)
	var whatIf []string
	if len(r.ZonesDown) > 0 {
		whatIf = append(whatIf, "zones down "+strings.Join(r.ZonesDown, ","))
	}
	if len(r.Scale) > 0 {
		whatIf = append(whatIf, "scale "+strings.Join(r.Scale, ","))
	}
	if len(whatIf) > 0 {
		fmt.Fprintf(&b, "What if: %s\n", strings.Join(whatIf, "; "))
	}

	b.WriteString("\n" + s.Bold.Render("New NodeClaims") + "\n")
	if r.Totals.NewNodes == 0 {
		b.WriteString("  none\n")
	} else {
		nodeClaimTable(r.Result, wide).Render(&b, s)
	}

	if len(r.Static) > 0 {
		b.WriteString("\n" + s.Bold.Render("Static NodePools") + " (spec.replicas; Karpenter's static controllers)\n")
		staticTable(r.Static, wide).Render(&b, s)
	}

	b.WriteString("\n" + s.Bold.Render("Existing nodes") + "\n")
	switch {
	case len(r.ExistingNodes) == 0:
		b.WriteString("  no pending pod fits onto an existing node\n")
	case wide:
		t := output.Table{Headers: []string{"NODE", "NODEPOOL", "PODS", "POD NAMES"}}
		for _, e := range r.ExistingNodes {
			t.Rows = append(t.Rows, []string{e.Node, cmp.Or(e.NodePool, "-"), strconv.Itoa(len(e.Pods)), strings.Join(e.Pods, ",")})
		}
		t.Render(&b, s)
	default:
		fmt.Fprintf(&b, "  %d pods fit onto %d existing nodes (-o wide lists them)\n", r.Totals.PodsOnExistingNodes, len(r.ExistingNodes))
	}

	if len(r.Unschedulable) > 0 {
		fmt.Fprintf(&b, "\n%s\n", s.Fail.Render(fmt.Sprintf("Unschedulable (%d pods)", r.Totals.UnschedulablePods)))
		// The reason goes last: Karpenter's messages are long.
		t := output.Table{Headers: []string{"PODS", "STAGE", "EXAMPLES", "REASON"}}
		for _, g := range r.Unschedulable {
			t.Rows = append(t.Rows, []string{strconv.Itoa(len(g.Pods)), g.Stage, examples(g.Pods, wide), g.Reason})
		}
		t.Render(&b, s)
	}

	writeWarnings(&b, s, r.Warnings)

	t := r.Totals
	fmt.Fprintf(&b, "\n%s %d new nodes, %s/h; %d pods on new nodes, %d on existing nodes, %s\n",
		s.Bold.Render("Total:"), t.NewNodes, price(t.PricePerHour), t.PodsOnNewNodes, t.PodsOnExistingNodes,
		unschedulableWord(s, t.UnschedulablePods))
	if line := staticTotal(r.Static); line != "" {
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// InstanceTypesFrom says where instance types came from: the catalogs ("aws eu-west-1, kwok"), the
// date of the EC2 data behind the AWS ones and, when spot offerings are shown, that their prices are
// estimates.
func InstanceTypesFrom(catalogs, region string, data *engine.AWSData, spot bool) string {
	s := catalogs
	if region != "" {
		s = strings.Replace(s, "aws", "aws "+region, 1)
	}
	if data != nil {
		s += " (EC2 data of " + data.Generated.Format("2006-01-02")
		if d := data.PricesDate(region); d != "" {
			s += ", prices of " + d
		}
		if spot && data.SpotEstimated {
			s += "; spot prices are estimates"
		}
		s += ")"
	}
	return s
}

// plansSpot says whether any new NodeClaim may launch as spot.
func plansSpot(r *engine.Result) bool {
	for _, np := range r.NodePools {
		for _, nc := range np.NodeClaims {
			if slices.Contains(nc.CapacityTypes, "spot") {
				return true
			}
		}
	}
	return false
}

// staticTable is what Karpenter's static NodePool controllers would do: create NodeClaims up to
// spec.replicas (launched as the cheapest type allowed) or delete down to it; wide names them.
func staticTable(plans []engine.StaticPlan, wide bool) output.Table {
	t := output.Table{Headers: []string{"NODEPOOL", "REPLICAS", "NODECLAIMS", "CHANGE", "INSTANCE TYPE", "ZONE", "CAPACITY", "$/H EACH"}}
	if wide {
		t.Headers = append(t.Headers, "DELETE")
	}
	for _, p := range plans {
		change := "none"
		switch {
		case p.Create > 0:
			change = "+" + strconv.Itoa(p.Create)
		case len(p.Delete) > 0:
			change = "-" + strconv.Itoa(len(p.Delete))
		}
		row := []string{p.NodePool, strconv.FormatInt(p.Replicas, 10), strconv.Itoa(p.NodeClaims), change, "-", "-", "-", "-"}
		if p.Create > 0 && p.InstanceType != "" {
			row[4], row[5], row[6], row[7] = p.InstanceType, p.Zone, p.CapacityType, price(p.PricePerHour)
		}
		if wide {
			row = append(row, cmp.Or(strings.Join(p.Delete, ","), "-"))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// staticTotal sums what the static NodePools add or remove, "" when nothing.
func staticTotal(plans []engine.StaticPlan) string {
	created, deleted, perHour := 0, 0, 0.0
	for _, p := range plans {
		created += p.Create
		deleted += len(p.Delete)
		perHour += float64(p.Create) * p.PricePerHour
	}
	if created == 0 && deleted == 0 {
		return ""
	}
	return fmt.Sprintf("Static NodePools: %d NodeClaims to create (%s/h), %d to delete", created, price(perHour), deleted)
}

// overlaid is the instance type's name with what NodeOverlays changed: "m5.large [price: NodeOverlay cheap-m5]".
func overlaid(name string, o *engine.OverlayMark) string {
	if o == nil {
		return name
	}
	var what []string
	if o.Price {
		what = append(what, "price")
	}
	if o.Capacity {
		what = append(what, "capacity")
	}
	return fmt.Sprintf("%s [%s: NodeOverlay %s]", name, strings.Join(what, "+"), strings.Join(o.Overlays, ","))
}

// capacityLabel is the capacity type, with the capacity reservation a reserved NodeClaim launches into.
func capacityLabel(nc engine.NodeClaimPlan) string {
	if nc.ReservationID != "" {
		return nc.CapacityType + " (" + nc.ReservationID + ")"
	}
	return nc.CapacityType
}

// nodeClaimTable groups identical NodeClaims (same NodePool, instance type, zone, capacity type and
// option count) into one row; wide prints one row per NodeClaim with every allowed zone and its pods.
func nodeClaimTable(r *engine.Result, wide bool) output.Table {
	if wide {
		t := output.Table{Headers: []string{"NODEPOOL", "INSTANCE TYPE", "OTHER OPTIONS", "ZONE", "ALLOWED ZONES", "CAPACITY", "ALLOWED CAPACITY", "$/H", "PODS", "CPU", "MEMORY", "POD NAMES"}}
		for _, np := range r.NodePools {
			for _, nc := range np.NodeClaims {
				t.Rows = append(t.Rows, []string{np.Name, instanceTypeLabel(nc), "+" + strconv.Itoa(nc.OtherInstanceTypes), nc.Zone,
					strings.Join(nc.Zones, ","), capacityLabel(nc), strings.Join(nc.CapacityTypes, ","), price(nc.PricePerHour),
					strconv.Itoa(len(nc.Pods)), percent(nc.CPUFill), percent(nc.MemoryFill), strings.Join(nc.Pods, ",")})
			}
		}
		return t
	}
	type key struct {
		pool, it, zone, ct string
		others, zones      int
	}
	type agg struct {
		nodes, pods    int
		price, cpu, mm float64
	}
	var order []key
	groups := map[key]*agg{}
	for _, np := range r.NodePools {
		for _, nc := range np.NodeClaims {
			k := key{np.Name, instanceTypeLabel(nc), nc.Zone, capacityLabel(nc), nc.OtherInstanceTypes, len(nc.Zones)}
			g, ok := groups[k]
			if !ok {
				g = &agg{}
				groups[k] = g
				order = append(order, k)
			}
			g.nodes++
			g.pods += len(nc.Pods)
			g.price += nc.PricePerHour
			g.cpu += nc.CPUFill
			g.mm += nc.MemoryFill
		}
	}
	t := output.Table{Headers: []string{"NODEPOOL", "NODES", "INSTANCE TYPE", "OTHER OPTIONS", "ZONE", "CAPACITY", "$/H", "PODS", "CPU", "MEMORY"}}
	for _, k := range order {
		g := groups[k]
		zone := k.zone
		if k.zones > 1 {
			zone += fmt.Sprintf(" (+%d)", k.zones-1)
		}
		n := float64(g.nodes)
		t.Rows = append(t.Rows, []string{k.pool, strconv.Itoa(g.nodes), k.it, "+" + strconv.Itoa(k.others), zone, k.ct,
			price(g.price), strconv.Itoa(g.pods), percent(g.cpu / n), percent(g.mm / n)})
	}
	return t
}

// examples lists an unschedulable group's pods (the engine sorts them), the first three unless all.
func examples(pods []string, all bool) string {
	if all || len(pods) <= 3 {
		return strings.Join(pods, ",")
	}
	return strings.Join(pods[:3], ",") + fmt.Sprintf(",… (+%d)", len(pods)-3)
}

func unschedulableWord(s output.Styles, n int) string {
	if n == 0 {
		return s.OK.Render("0 unschedulable")
	}
	return s.Fail.Render(fmt.Sprintf("%d unschedulable", n))
}

func price(p float64) string { return "$" + strconv.FormatFloat(p, 'f', 4, 64) }

func percent(f float64) string { return strconv.Itoa(int(f*100+0.5)) + "%" }

// writeWarnings lists the engine's warnings under a heading, those of a NodePool named.
func writeWarnings(b *strings.Builder, s output.Styles, ws []engine.Warning) {
	if len(ws) == 0 {
		return
	}
	b.WriteString("\n" + s.Warn.Render("Warnings") + "\n")
	for _, wn := range ws {
		if wn.NodePool != "" {
			fmt.Fprintf(b, "  NodePool %s: %s\n", wn.NodePool, wn.Message)
		} else {
			fmt.Fprintf(b, "  %s\n", wn.Message)
		}
	}
}

// instanceTypeLabel is the instance type Karpenter ranks first for a NodeClaim, marked with the
// NodeOverlays that changed its price or capacity, and, when the cloud provider's own prices make it
// launch another of the options, that type.
func instanceTypeLabel(nc engine.NodeClaimPlan) string {
	label := overlaid(nc.InstanceType, nc.Overlay)
	if nc.LaunchInstanceType != "" && nc.LaunchInstanceType != nc.InstanceType {
		label += " (provider launches " + nc.LaunchInstanceType + ")"
	}
	return label
}
