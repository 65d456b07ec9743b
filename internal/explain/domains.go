package explain

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// maxDomains is how many domains a message names (the fewest matching pods first).
const maxDomains = 6

// The Topology, Affinity and Volume reasons are worded with the numbers of the snapshot: the
// constraint's key and skew, how many matching pods each domain of the key holds now (pods bound to
// nodes, by the node's label), and which domains the NodePool may launch in. Whether the pod fits
// is Karpenter's scheduler's answer (the counterfactual runs); these are only the facts behind it.

// topology words the pod's DoNotSchedule spread constraints.
func (d describer) topology() Reason {
	r := Reason{Kind: Topology}
	var said, keys []string
	var fewest []string
	for _, tsc := range d.x.pod.Spec.TopologySpreadConstraints {
		if tsc.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		counts := d.counts(tsc.TopologyKey, tsc.LabelSelector, []string{d.x.pod.Namespace})
		allowed := d.allowedValues(tsc.TopologyKey)
		s := fmt.Sprintf("spread on %s (maxSkew %d", tsc.TopologyKey, tsc.MaxSkew)
		if tsc.MinDomains != nil {
			s += fmt.Sprintf(", minDomains %d", *tsc.MinDomains)
		}
		s += fmt.Sprintf(") over pods %s: %s; the NodePool launches in %s", selectorString(tsc.LabelSelector), countList(counts), allowedString(tsc.TopologyKey, allowed))
		said, keys = append(said, s), append(keys, tsc.TopologyKey)
		if dom, n, ok := fewestOutside(counts, allowed); ok {
			fewest = append(fewest, fmt.Sprintf("%s %s (%d matching pods)", tsc.TopologyKey, dom, n))
		}
	}
	r.Key = strings.Join(keys, ",")
	r.Message = "a new node of this NodePool cannot meet the pod's topology spread: " + strings.Join(said, "; ")
	r.Change = "use whenUnsatisfiable: ScheduleAnyway or a larger maxSkew"
	if len(fewest) > 0 {
		r.Change = fmt.Sprintf("allow the NodePool %s, where the spread has room, or %s", strings.Join(fewest, ", "), r.Change)
	}
	return r
}

// affinity words the pod's required pod affinity and anti-affinity terms.
func (d describer) affinity() Reason {
	r := Reason{Kind: Affinity}
	var said, keys, where []string
	a := d.x.pod.Spec.Affinity
	word := func(terms []corev1.PodAffinityTerm, what string, anti bool) {
		for _, t := range terms {
			ns := t.Namespaces
			if len(ns) == 0 {
				ns = []string{d.x.pod.Namespace}
			}
			counts, allowed := d.counts(t.TopologyKey, t.LabelSelector, ns), d.allowedValues(t.TopologyKey)
			said = append(said, fmt.Sprintf("%s on %s with pods %s: %s; the NodePool launches in %s", what, t.TopologyKey,
				selectorString(t.LabelSelector), countList(counts), allowedString(t.TopologyKey, allowed)))
			keys = append(keys, t.TopologyKey)
			for _, c := range counts {
				if allowed != nil && !slices.Contains(allowed, c.domain) && (c.pods == 0) == anti {
					where = append(where, fmt.Sprintf("%s %s (%d matching pods)", t.TopologyKey, c.domain, c.pods))
					break
				}
			}
		}
	}
	if a != nil && a.PodAffinity != nil {
		word(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, "required affinity", false)
	}
	if a != nil && a.PodAntiAffinity != nil {
		word(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, "required anti-affinity", true)
	}
	r.Key = strings.Join(keys, ",")
	r.Message = "a new node of this NodePool cannot meet the pod's " + strings.Join(said, "; ")
	r.Change = "let the NodePool launch in a domain that meets it (with the pods for affinity, without them for anti-affinity), or make it preferred instead of required"
	if len(where) > 0 {
		r.Change = fmt.Sprintf("allow the NodePool %s, or make it preferred instead of required", strings.Join(where, ", "))
	}
	return r
}

// volume words where the pod's bound PersistentVolumes may be used (their node affinity).
func (d describer) volume() Reason {
	r := Reason{Kind: Volume}
	var said []string
	var need []string
	ctx := context.Background()
	for _, v := range d.x.pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := d.x.sim.Reader().Get(ctx, types.NamespacedName{Namespace: d.x.pod.Namespace, Name: v.PersistentVolumeClaim.ClaimName}, pvc); err != nil || pvc.Spec.VolumeName == "" {
			continue
		}
		pv := &corev1.PersistentVolume{}
		if err := d.x.sim.Reader().Get(ctx, types.NamespacedName{Name: pvc.Spec.VolumeName}, pv); err != nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			continue
		}
		for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				req := scheduling.NewRequirement(e.Key, e.Operator, e.Values...)
				said = append(said, fmt.Sprintf("claim %s is bound to PersistentVolume %s, which requires %s; the NodePool launches in %s",
					pvc.Name, pv.Name, req, allowedString(e.Key, d.allowedValues(e.Key))))
				if e.Operator == corev1.NodeSelectorOpIn {
					need = append(need, e.Key+" "+strings.Join(e.Values, ","))
				}
			}
		}
	}
	if len(said) == 0 {
		r.Message = "the pod's volumes pin it to where their PersistentVolumes are (volume topology), and the NodePool cannot launch there"
	} else {
		r.Message = "the pod's volumes pin it where the NodePool cannot launch: " + strings.Join(said, "; ")
	}
	r.Change = "allow the volumes' zones in the NodePool, or use a volume in a zone the NodePool launches in"
	if len(need) > 0 {
		r.Change = fmt.Sprintf("allow %s in the NodePool, or use a volume where the NodePool launches", strings.Join(need, " and "))
	}
	return r
}

// domainCount is one domain of a topology key and how many matching pods it holds.
type domainCount struct {
	domain string
	pods   int
}

// counts are the domains of key (the nodes' labels) with the number of pods matching selector in
// namespaces bound to nodes there, fewest first.
func (d describer) counts(key string, selector *metav1.LabelSelector, namespaces []string) []domainCount {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || selector == nil {
		sel = labels.Nothing()
	}
	ctx := context.Background()
	var nodes corev1.NodeList
	var pods corev1.PodList
	if d.x.sim.Reader().List(ctx, &nodes) != nil || d.x.sim.Reader().List(ctx, &pods) != nil {
		return nil
	}
	byNode := map[string]string{}
	n := map[string]int{}
	for _, node := range nodes.Items {
		if v, ok := node.Labels[key]; ok {
			byNode[node.Name] = v
			n[v] += 0
		}
	}
	for _, p := range pods.Items {
		v, ok := byNode[p.Spec.NodeName]
		if !ok || !slices.Contains(namespaces, p.Namespace) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		n[v]++
	}
	out := make([]domainCount, 0, len(n))
	for dom, c := range n {
		out = append(out, domainCount{dom, c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].pods != out[j].pods {
			return out[i].pods < out[j].pods
		}
		return out[i].domain < out[j].domain
	})
	return out
}

// allowedValues are the values of key a new NodeClaim of the NodePool may have for the pod (nil:
// any).
func (d describer) allowedValues(key string) []string {
	reqs := scheduling.NewRequirements(scheduler.NewNodeClaimTemplate(d.np).Requirements.Values()...)
	reqs.Add(scheduling.NewStrictPodRequirements(d.x.pod).Values()...)
	if !reqs.Has(key) || reqs.Get(key).Operator() != corev1.NodeSelectorOpIn {
		return nil
	}
	v := reqs.Get(key).Values()
	sort.Strings(v)
	return v
}

// fewestOutside is the domain with the fewest matching pods that the NodePool does not allow.
func fewestOutside(counts []domainCount, allowed []string) (string, int, bool) {
	if allowed == nil {
		return "", 0, false
	}
	for _, c := range counts {
		if !slices.Contains(allowed, c.domain) {
			return c.domain, c.pods, true
		}
	}
	return "", 0, false
}

func countList(counts []domainCount) string {
	if len(counts) == 0 {
		return "no node has the label yet"
	}
	var s []string
	for i, c := range counts {
		if i == maxDomains {
			s = append(s, fmt.Sprintf("%d more", len(counts)-maxDomains))
			break
		}
		s = append(s, fmt.Sprintf("%s has %d", c.domain, c.pods))
	}
	return strings.Join(s, ", ")
}

func allowedString(key string, allowed []string) string {
	if allowed == nil {
		return "any " + key
	}
	return key + " " + strings.Join(allowed, ", ")
}

func selectorString(s *metav1.LabelSelector) string {
	if s == nil {
		return "(none)"
	}
	return metav1.FormatLabelSelector(s)
}
