package aws

import (
	"slices"
	"sort"
	"strings"
	"testing"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/aws/karpenter-provider-aws/pkg/providers/pricing"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/utils/resources"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

// comparison is what TestReference found: per resource or label, the matching types and the
// mismatches ("name: got want value").
type comparison struct {
	byName   map[string]*cloudprovider.InstanceType
	missing  []string
	covered  int
	match    map[string]int
	mismatch map[string][]string
	// exact lists the covered types whose compared resources all equal the reference.
	exact map[string]bool
	// newerPodENI lists the types whose pod ENIs the reference omits but the provider's newer network
	// table gives (see newerPodENI).
	newerPodENI []string
	// memoryWithin lists the types whose memory is within 1 % of the reference but not equal.
	memoryWithin []string
	// documented lists every type of the reference, sorted.
	documented []string
	// known marks the knownDataErrors that do differ.
	known map[string]bool
}

// compareReference compares every documented type's allocatable resources and labels.
func compareReference(ref map[string]*reference.Type, its []*cloudprovider.InstanceType) *comparison {
	c := &comparison{byName: map[string]*cloudprovider.InstanceType{}, match: map[string]int{}, mismatch: map[string][]string{}, exact: map[string]bool{}, known: map[string]bool{}}
	for _, it := range its {
		c.byName[it.Name] = it
	}
	documented := map[string]bool{} // every label key the reference shows
	for _, r := range ref {
		for k := range r.Labels {
			documented[k] = true
		}
	}
	for name, r := range ref {
		c.documented = append(c.documented, name)
		it, ok := c.byName[name]
		if !ok {
			c.missing = append(c.missing, name)
			continue
		}
		c.covered++
		c.compareResources(name, r, it)
		c.compareLabels(name, r, it, documented)
	}
	sort.Strings(c.missing)
	sort.Strings(c.documented)
	return c
}

func (c *comparison) compareResources(name string, r *reference.Type, it *cloudprovider.InstanceType) {
	alloc := resources.Subtract(it.Capacity, it.Overhead.Total())
	exact := true
	checked := map[corev1.ResourceName]bool{}
	for _, rn := range append(append([]corev1.ResourceName{}, refResources...), extraResources(r)...) {
		if checked[rn] {
			continue
		}
		checked[rn] = true
		v, ok := r.Resources[string(rn)]
		if !ok {
			v = "0"
		}
		want := resource.MustParse(v)
		got := alloc[rn]
		if got.Cmp(want) == 0 {
			c.match[string(rn)]++
			continue
		}
		if rn == corev1.ResourceMemory && within(got, want, 0.01) {
			c.memoryWithin = append(c.memoryWithin, name+": "+got.String()+" want "+want.String())
			continue
		}
		if rn == awsv1.ResourceAWSPodENI && !ok && newerPodENI(name) {
			c.newerPodENI = append(c.newerPodENI, name)
			continue
		}
		c.mismatch[string(rn)] = append(c.mismatch[string(rn)], name+": "+got.String()+" want "+want.String())
		if isRefResource(rn) {
			exact = false
		}
	}
	if exact {
		c.exact[name] = true
	}
}

// compareLabels: a documented label the reference does not show for this type must not have one
// value here; a shown one must have exactly its value.
func (c *comparison) compareLabels(name string, r *reference.Type, it *cloudprovider.InstanceType, documented map[string]bool) {
	for k := range documented {
		if _, shown := r.Labels[k]; !shown {
			if vals := it.Requirements.Get(k).Values(); len(vals) == 1 && k != corev1.LabelTopologyRegion {
				c.mismatch["label "+k] = append(c.mismatch["label "+k], name+": "+vals[0]+" want none")
			}
		}
	}
	for k, v := range r.Labels {
		if vals := it.Requirements.Get(k).Values(); len(vals) == 1 && vals[0] == v {
			c.match["label "+k]++
		} else {
			c.mismatch["label "+k] = append(c.mismatch["label "+k], name+": "+strings.Join(it.Requirements.Get(k).Values(), ",")+" want "+v)
		}
	}
}

// newerPodENI reports whether the provider's network table (v1.15.0) marks a type
// trunking-compatible: the v1.14 reference was generated with an older table (v1.14.3's does not
// know c9g, c9gd, hpc7g and the 8th-generation b/n metal sizes, and calls i4i.large not
// trunking-compatible), so it shows no pod ENIs where Karpenter v1.15.0 gives them.
func newerPodENI(name string) bool {
	l, ok := instancetype.Limits[name]
	return ok && l.IsTrunkingCompatible && l.BranchInterface > 0
}

// within reports whether got is within frac of want.
func within(got, want resource.Quantity, frac float64) bool {
	g, w := got.AsApproximateFloat64(), want.AsApproximateFloat64()
	return w > 0 && g >= w*(1-frac) && g <= w*(1+frac)
}

func isRefResource(rn corev1.ResourceName) bool {
	for _, r := range refResources {
		if r == rn {
			return true
		}
	}
	return false
}

// unexpected returns the mismatches of a key that are not known data errors (and marks those).
func (c *comparison) unexpected(key string) []string {
	var out []string
	for _, m := range c.mismatch[key] {
		name := strings.SplitN(m, ":", 2)[0]
		if _, ok := knownDataErrors[name]; ok {
			c.known[name] = true
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// pricedExact counts the documented types with a us-east-1 on-demand price in the provider's own
// table, and how many of those are known and exact.
func (c *comparison) pricedExact() (priced, exact int) {
	prices := pricing.InitialOnDemandPricesAWS["us-east-1"]
	for _, name := range c.documented {
		if _, ok := prices[ec2types.InstanceType(name)]; ok {
			priced++
			if c.exact[name] {
				exact++
			}
		}
	}
	return priced, exact
}

func (c *comparison) keys() []string {
	keys := make([]string, 0, len(c.match)+len(c.mismatch))
	seen := map[string]bool{}
	for k := range c.match {
		keys, seen[k] = append(keys, k), true
	}
	for k := range c.mismatch {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// reportReference logs the comparison: coverage, then how many types were checked on facts
// independent of the reference and how many on facts taken from it, then per resource and label
// the matches and mismatches.
func reportReference(t *testing.T, c *comparison, f *ec2data.File) {
	t.Logf("reference documents %d instance types; the data covers %d; %d missing: %s", len(c.documented), c.covered, len(c.missing), families(c.missing))
	type group struct{ types, exact int }
	groups := map[string]*group{}
	for _, ft := range f.Types {
		if _, ok := c.byName[ft.Name]; !ok || !slices.Contains(c.documented, ft.Name) {
			continue
		}
		key := "specs " + ft.From.Specs + ", network " + ft.From.Network
		if groups[key] == nil {
			groups[key] = &group{}
		}
		groups[key].types++
		if c.exact[ft.Name] {
			groups[key].exact++
		}
	}
	independent := groups["specs "+ec2data.FromModules+", network "+ec2data.FromModules]
	var fromRef group
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := groups[k]
		if g != independent {
			fromRef.types, fromRef.exact = fromRef.types+g.types, fromRef.exact+g.exact
		}
		t.Logf("checked on facts with %-60s %4d types, %4d exact", k+":", g.types, g.exact)
	}
	if independent == nil {
		independent = &group{}
	}
	sort.Strings(c.memoryWithin)
	t.Logf("memory: %d types within 1 %% of the reference but not equal (the module rounds memory to GiB fractions): %s", len(c.memoryWithin), strings.Join(c.memoryWithin, "; "))
	sort.Strings(c.newerPodENI)
	t.Logf("pod-eni: %d types get pod ENIs from the provider v1.15.0's network table where the v1.14 reference, generated with an older table, shows none: %s", len(c.newerPodENI), families(c.newerPodENI))
	t.Logf("checked on independent facts (Go modules only): %d types, %d exact; on facts taken from the reference itself (its labels or results): %d types, %d exact",
		independent.types, independent.exact, fromRef.types, fromRef.exact)
	for _, k := range c.keys() {
		t.Logf("%-70s match %4d  mismatch %4d", k, c.match[k], len(c.mismatch[k]))
	}
}
