package aws

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
	"sigs.k8s.io/karpenter/pkg/utils/resources"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

// referencePath is where the comparison test reads Karpenter's instance-types reference
// (website/content/en/v1.14/reference/instance-types.md of github.com/aws/karpenter-provider-aws,
// which its Go module does not ship): $KARPCTL_INSTANCE_TYPES_REFERENCE, else
// ../shared/data/karpenter-instance-types-v1.14.md beside the repository, where a checkout that
// has the file keeps it outside the repository.
func referencePath(t *testing.T) string {
	if p := os.Getenv("KARPCTL_INSTANCE_TYPES_REFERENCE"); p != "" {
		return p
	}
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(filepath.Dir(root), "shared", "data", "karpenter-instance-types-v1.14.md")
}

// al2023 is the NodeClass of the reference: AL2023, no block device mappings, subnets in us-east-1.
func al2023(t testing.TB) *awsv1.EC2NodeClass {
	nc := &awsv1.EC2NodeClass{}
	nc.Name = "default"
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	zones, err := Zones("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z.Name, Zone: z.Name, ZoneID: z.ID})
	}
	return nc
}

// knownDataErrors are the covered types whose source facts are wrong, so that their allocatable
// cannot match the reference; the test fails when one of them starts to match (then remove it).
var knownDataErrors = map[string]string{
	"r3.large": "github.com/cristim/ec2-instances-info records 15.25 GiB of memory, more than EC2 reports",
}

// refResources are the resources the reference lists for every type.
var refResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage}

// TestReference compares, for every instance type Karpenter's published reference documents,
// the allocatable resources and labels this package computes with AL2023 and no block device
// mappings. It needs a copy of the reference (see referencePath) and skips without one.
func TestReference(t *testing.T) {
	path := referencePath(t)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("needs Karpenter's instance-types reference (website/content/en/v1.14/reference/instance-types.md of aws/karpenter-provider-aws) at %s or $KARPCTL_INSTANCE_TYPES_REFERENCE", path)
	}
	ref, err := reference.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	its, _, err := InstanceTypes(testContext(), al2023(t), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*cloudprovider.InstanceType{}
	for _, it := range its {
		byName[it.Name] = it
	}
	documented := map[string]bool{} // every label key the reference shows
	for _, r := range ref {
		for k := range r.Labels {
			documented[k] = true
		}
	}
	var missing []string
	match := map[string]int{}
	mismatch := map[string][]string{}
	covered := 0
	for name, r := range ref {
		it, ok := byName[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		covered++
		alloc := resources.Subtract(it.Capacity, it.Overhead.Total())
		for _, rn := range append(refResources, extraResources(r)...) {
			want := resource.MustParse(r.Resources[string(rn)])
			got := alloc[rn]
			if got.Cmp(want) == 0 {
				match[string(rn)]++
			} else {
				mismatch[string(rn)] = append(mismatch[string(rn)], name+": "+got.String()+" want "+want.String())
			}
		}
		// A documented label the reference does not show for this type must not have one value here.
		for k := range documented {
			if _, shown := r.Labels[k]; !shown {
				if vals := it.Requirements.Get(k).Values(); len(vals) == 1 && k != corev1.LabelTopologyRegion {
					mismatch["label "+k] = append(mismatch["label "+k], name+": "+vals[0]+" want none")
				}
			}
		}
		for k, v := range r.Labels {
			req := it.Requirements.Get(k)
			if vals := req.Values(); len(vals) == 1 && vals[0] == v {
				match["label "+k]++
			} else {
				mismatch["label "+k] = append(mismatch["label "+k], name+": "+strings.Join(vals, ",")+" want "+v)
			}
		}
	}
	sort.Strings(missing)
	t.Logf("reference documents %d instance types; the data covers %d; %d missing: %s", len(ref), covered, len(missing), families(missing))
	keys := make([]string, 0, len(match)+len(mismatch))
	seen := map[string]bool{}
	for k := range match {
		keys, seen[k] = append(keys, k), true
	}
	for k := range mismatch {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("%-70s match %4d  mismatch %4d", k, match[k], len(mismatch[k]))
	}
	known := map[string]bool{}
	for _, rn := range refResources {
		var unexpected []string
		for _, m := range mismatch[string(rn)] {
			name := strings.SplitN(m, ":", 2)[0]
			if _, ok := knownDataErrors[name]; ok {
				known[name] = true
				continue
			}
			unexpected = append(unexpected, m)
		}
		if len(unexpected) > 0 {
			sort.Strings(unexpected)
			t.Errorf("allocatable %s differs from the reference for %d of %d covered types, e.g. %s", rn, len(unexpected), covered, strings.Join(unexpected[:min(len(unexpected), 8)], "; "))
		}
	}
	for name, why := range knownDataErrors {
		if _, documented := ref[name]; documented && !known[name] {
			if _, ok := byName[name]; ok {
				t.Errorf("%s matches the reference now (%s was expected): remove it from knownDataErrors", name, why)
			}
		}
	}
	if os.Getenv("KARPCTL_REFERENCE_VERBOSE") != "" {
		for _, k := range keys {
			sort.Strings(mismatch[k])
			for _, m := range mismatch[k] {
				t.Logf("  %s: %s", k, m)
			}
		}
	}
}

// extraResources lists the non-core resources the reference gives for a type.
func extraResources(r *reference.Type) []corev1.ResourceName {
	var out []corev1.ResourceName
	for k := range r.Resources {
		switch corev1.ResourceName(k) {
		case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage:
		default:
			out = append(out, corev1.ResourceName(k))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// families summarises instance type names by family: "c8g (12), m8g (10), …".
func families(names []string) string {
	count := map[string]int{}
	for _, n := range names {
		count[strings.SplitN(n, ".", 2)[0]]++
	}
	fams := make([]string, 0, len(count))
	for f := range count {
		fams = append(fams, f)
	}
	sort.Strings(fams)
	parts := make([]string, len(fams))
	for i, f := range fams {
		parts[i] = f + " (" + itoa(count[f]) + ")"
	}
	return strings.Join(parts, ", ")
}

func itoa(n int) string { return resource.NewQuantity(int64(n), resource.DecimalSI).String() }

// testContext carries the Karpenter options the provider's offering code reads (engine.Plan gives
// the production ones): ReservedCapacity on, NodeOverlay off.
func testContext() context.Context {
	return coreoptions.ToContext(context.Background(), &coreoptions.Options{FeatureGates: coreoptions.FeatureGates{ReservedCapacity: true}})
}
