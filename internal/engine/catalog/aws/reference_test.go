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
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"

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
	"r3.large":  "github.com/cristim/ec2-instances-info records 15.25 GiB of memory, more than EC2 reports",
	"m1.medium": "github.com/cristim/ec2-instances-info records 3.75 GiB of memory, more than the 3,788 MiB EC2 reports",
}

// refResources are the resources compared for every type; the reference leaves pod-eni out where it is 0.
var refResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage, awsv1.ResourceAWSPodENI}

// TestReference compares, for every instance type Karpenter's published reference documents,
// the allocatable resources and labels this package computes with AL2023 and no block device
// mappings. It needs a copy of the reference (see referencePath): without one it fails in CI
// ($CI=true) and skips elsewhere.
func TestReference(t *testing.T) {
	path := referencePath(t)
	if _, err := os.Stat(path); err != nil {
		msg := "needs Karpenter's instance-types reference (website/content/en/v1.14/reference/instance-types.md of aws/karpenter-provider-aws) at " + path + " or $KARPCTL_INSTANCE_TYPES_REFERENCE"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ref, err := reference.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	its, _, err := InstanceTypes(testContext(), al2023(t), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	f, err := load()
	if err != nil {
		t.Fatal(err)
	}
	c := compareReference(ref, its)
	reportReference(t, c, f)
	for _, rn := range refResources {
		if u := c.unexpected(string(rn)); len(u) > 0 {
			t.Errorf("allocatable %s differs from the reference for %d of %d covered types, e.g. %s", rn, len(u), c.covered, strings.Join(u[:min(len(u), 8)], "; "))
		}
	}
	if len(c.missing) > 0 {
		t.Errorf("%d documented instance types are not in the EC2 data (run go generate ./internal/engine/catalog/aws): %s", len(c.missing), families(c.missing))
	}
	priced, exact := c.pricedExact()
	t.Logf("%d of %d documented types have a us-east-1 on-demand price; %d of them are known and equal the reference in cpu, memory (±1 %%), pods, ephemeral-storage and pod-eni", priced, len(ref), exact)
	if exact < priced-len(knownDataErrors) {
		t.Errorf("only %d of the %d documented types with a us-east-1 price are known and exact", exact, priced)
	}
	for name, why := range knownDataErrors {
		if _, documented := ref[name]; documented && !c.known[name] && c.byName[name] != nil {
			t.Errorf("%s matches the reference now (%s was expected): remove it from knownDataErrors", name, why)
		}
	}
	if os.Getenv("KARPCTL_REFERENCE_VERBOSE") != "" {
		for _, k := range c.keys() {
			sort.Strings(c.mismatch[k])
			for _, m := range c.mismatch[k] {
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
