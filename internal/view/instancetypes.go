package view

import (
	"cmp"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
)

// InstanceTypes prints the instance types Karpenter would consider: allocatable resources and the
// cheapest offering; wide adds every offering (capacity type: zone $/h) and the labels.
func InstanceTypes(w io.Writer, s output.Styles, l *engine.InstanceTypeList, wide bool) error {
	var b strings.Builder
	what := "NodeClass " + l.NodeClass
	if l.NodePool != "" {
		what = "NodePool " + l.NodePool + " (" + l.NodeClass + "), filtered by its requirements"
	}
	spot := false
	for _, it := range l.InstanceTypes {
		for _, o := range it.Offerings {
			spot = spot || o.CapacityType == "spot"
		}
	}
	fmt.Fprintf(&b, "%s %d for %s; instance types %s\n", s.Bold.Render("Instance types Karpenter would consider:"),
		len(l.InstanceTypes), what, InstanceTypesFrom(l.Catalog, l.Region, l.AWSData, spot))
	karpenterSettings(&b, s, l.KarpenterSettings)
	if len(l.Requests) > 0 {
		fits := 0
		for _, it := range l.InstanceTypes {
			if it.Fits != nil && *it.Fits {
				fits++
			}
		}
		who := "A pod requesting " + resourceList(l.Requests)
		if l.Pod != "" {
			who = "Pod " + l.Pod + " (requests " + resourceList(l.Requests) + "; its node selector, affinity and tolerations)"
		}
		daemons := ", next to the DaemonSet pods Karpenter expects there (no DaemonSets read)"
		if l.DaemonSets > 0 {
			daemons = fmt.Sprintf(", next to the DaemonSet pods Karpenter expects there (%d DaemonSets read)", l.DaemonSets)
		}
		fmt.Fprintf(&b, "%s fits on a new node of %d of them%s\n", who, fits, daemons)
	}
	b.WriteString("\n")
	headers := []string{"NAME", "CPU", "MEMORY", "PODS", "EPHEMERAL", "GPU", "$/H", "CAPACITY", "ZONE"}
	if len(l.Requests) > 0 {
		headers = append(headers, "FITS")
	}
	if wide {
		headers = append(headers, "OFFERINGS", "LABELS")
	}
	t := output.Table{Headers: headers}
	for _, it := range l.InstanceTypes {
		a := it.Allocatable
		row := []string{overlaid(it.Name, it.Overlay), milli(a, corev1.ResourceCPU), mebi(a, corev1.ResourceMemory), count(a, corev1.ResourcePods),
			gibi(a, corev1.ResourceEphemeralStorage), strconv.FormatInt(it.GPUs, 10), "-", "-", "-"}
		if c := cheapest(it.Offerings); c != nil {
			row[6], row[7], row[8] = price(c.Price), c.CapacityType, zonesAt(it.Offerings, *c)
		}
		if len(l.Requests) > 0 {
			row = append(row, map[bool]string{true: s.OK.Render("yes"), false: s.Fail.Render("no")}[it.Fits != nil && *it.Fits])
		}
		if wide {
			row = append(row, offerings(it.Offerings), labels(it.Labels))
		}
		t.Rows = append(t.Rows, row)
	}
	if len(t.Rows) == 0 {
		b.WriteString("  none: the requirements allow no instance type with an available offering\n")
	} else {
		t.Render(&b, s)
	}
	writeWarnings(&b, s, l.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}

func cheapest(offs []engine.OfferingInfo) *engine.OfferingInfo {
	for i := range offs { // sorted cheapest first
		if offs[i].Available {
			return &offs[i]
		}
	}
	return nil
}

// zonesAt names the zone of the cheapest offering and how many others have that price and capacity type.
func zonesAt(offs []engine.OfferingInfo, c engine.OfferingInfo) string {
	n := 0
	for _, o := range offs {
		if o.Available && o.Price == c.Price && o.CapacityType == c.CapacityType && o.Zone != c.Zone {
			n++
		}
	}
	if n > 0 {
		return fmt.Sprintf("%s (+%d)", c.Zone, n)
	}
	return c.Zone
}

// offerings lists every offering by capacity type: "on-demand: eu-west-1a $0.1070, …; spot: …".
func offerings(offs []engine.OfferingInfo) string {
	by := map[string][]string{}
	var types []string
	for _, o := range offs {
		if _, ok := by[o.CapacityType]; !ok {
			types = append(types, o.CapacityType)
		}
		entry := o.Zone + " " + price(o.Price)
		if !o.Available {
			entry += " (unavailable)"
		}
		by[o.CapacityType] = append(by[o.CapacityType], entry)
	}
	sort.Strings(types)
	parts := make([]string, 0, len(types))
	for _, ct := range types {
		parts = append(parts, ct+": "+strings.Join(by[ct], ", "))
	}
	return cmp.Or(strings.Join(parts, "; "), "-")
}

func labels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

func resourceList(l corev1.ResourceList) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		q := l[corev1.ResourceName(k)]
		parts = append(parts, k+"="+q.String())
	}
	return strings.Join(parts, ",")
}

func milli(l corev1.ResourceList, r corev1.ResourceName) string {
	q, ok := l[r]
	if !ok {
		return "-"
	}
	return strconv.FormatInt(q.MilliValue(), 10) + "m"
}

func mebi(l corev1.ResourceList, r corev1.ResourceName) string { return scaled(l, r, 1<<20, "Mi") }
func gibi(l corev1.ResourceList, r corev1.ResourceName) string { return scaled(l, r, 1<<30, "Gi") }

// scaled prints a quantity in whole units, rounded down (6903Mi, 17Gi).
func scaled(l corev1.ResourceList, r corev1.ResourceName, unit int64, suffix string) string {
	q, ok := l[r]
	if !ok {
		return "-"
	}
	return strconv.FormatInt(q.Value()/unit, 10) + suffix
}

func count(l corev1.ResourceList, r corev1.ResourceName) string {
	q, ok := l[r]
	if !ok {
		return "-"
	}
	return strconv.FormatInt(q.Value(), 10)
}
