package aws

import (
	"context"
	"fmt"
	"sort"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	awscache "github.com/aws/karpenter-provider-aws/pkg/cache"
	kubeletcel "github.com/aws/karpenter-provider-aws/pkg/cel"
	"github.com/aws/karpenter-provider-aws/pkg/providers/arczonalshift"
	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/patrickmn/go-cache"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// newProvider is the provider's own instancetype.DefaultProvider over the offline EC2 API and
// prices, as the provider's docs generator (hack/docs/instancetypes_gen) builds it.
func newProvider(ctx context.Context, f *ec2data.File, r ec2data.Region, region string, zones []Zone, nc *awsv1.EC2NodeClass) (*instancetype.DefaultProvider, error) {
	celEnv, err := kubeletcel.NewEnvironment()
	if err != nil {
		return nil, fmt.Errorf("karpenter-provider-aws CEL environment: %w", err)
	}
	p := instancetype.NewDefaultProvider(
		cache.New(awscache.InstanceTypesZonesAndOfferingsTTL, awscache.DefaultCleanupInterval),
		cache.New(awscache.InstanceTypesZonesAndOfferingsTTL, awscache.DefaultCleanupInterval),
		cache.New(awscache.DiscoveredCapacityCacheTTL, awscache.DefaultCleanupInterval),
		newOfflineEC2(f, r, zones),
		nil, // the subnet provider is not used to list instance types
		newOfflinePricing(f, r),
		offlineReservations{},
		offlinePlacementGroups{},
		awscache.NewUnavailableOfferings(),
		instancetype.NewDefaultResolver(region, celEnv),
		arczonalshift.NewNoopProvider(),
		nil, // no kube client: NodeOverlay prices are not read
		celEnv,
	)
	if err := p.UpdateInstanceTypes(ctx); err != nil {
		return nil, err
	}
	if err := p.UpdateInstanceTypeOfferings(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// TestListEqualsProvider: list gives what instancetype.DefaultProvider.List gives, for NodeClasses
// that exercise kubelet, AMI family, storage and reservations.
func TestListEqualsProvider(t *testing.T) {
	for _, spec := range []string{
		"amiSelectorTerms: [{alias: al2023@latest}]",
		"amiSelectorTerms: [{alias: bottlerocket@latest}]\nkubelet: {maxPods: 110, kubeReserved: {cpu: 200m}}\ninstanceStorePolicy: RAID0",
		"amiSelectorTerms: [{alias: al2@latest}]\nkubelet: {podsPerCore: 2, evictionHard: {memory.available: 5%}}",
	} {
		nc := nodeClass(t, spec)
		nc.Status.Subnets = nc.Status.Subnets[:2]
		nc.Status.CapacityReservations = []awsv1.CapacityReservation{{ID: "cr-1", InstanceType: "m5.large", AvailabilityZone: nc.Status.Subnets[0].Zone, State: awsv1.CapacityReservationStateActive}}
		f, err := load()
		if err != nil {
			t.Fatal(err)
		}
		r := f.Regions["eu-west-1"]
		for i := range nc.Status.Subnets {
			nc.Status.Subnets[i].Zone = "eu-west-1" + nc.Status.Subnets[i].Zone[len("us-east-1"):]
			nc.Status.Subnets[i].ZoneID = r.ZoneIDs[i]
		}
		nc.Status.CapacityReservations[0].AvailabilityZone = nc.Status.Subnets[0].Zone
		ctx, err := withOptions(testContext())
		if err != nil {
			t.Fatal(err)
		}
		zones, _, err := nodeClassZones(nc, "eu-west-1", zonesOf("eu-west-1", r))
		if err != nil {
			t.Fatal(err)
		}
		got, err := list(ctx, f, r, "eu-west-1", zones, nc)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newProvider(ctx, f, r, "eu-west-1", zones, nc)
		if err != nil {
			t.Fatal(err)
		}
		want, err := p.List(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: list gave %d types, DefaultProvider.List %d", spec, len(got), len(want))
		}
		sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
		sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
		for i := range got {
			if d := diff(got[i], want[i]); d != "" {
				t.Errorf("%s: %s: %s", spec, got[i].Name, d)
			}
		}
	}
}

func diff(a, b *cloudprovider.InstanceType) string {
	switch {
	case a.Name != b.Name:
		return "name " + b.Name
	case a.Requirements.String() != b.Requirements.String():
		return fmt.Sprintf("requirements %s, want %s", a.Requirements, b.Requirements)
	case !equality.Semantic.DeepEqual(a.Capacity, b.Capacity):
		return fmt.Sprintf("capacity %v, want %v", a.Capacity, b.Capacity)
	case !equality.Semantic.DeepEqual(a.Overhead, b.Overhead):
		return fmt.Sprintf("overhead %v, want %v", a.Overhead, b.Overhead)
	case len(a.Offerings) != len(b.Offerings):
		return fmt.Sprintf("%d offerings, want %d", len(a.Offerings), len(b.Offerings))
	}
	key := func(o *cloudprovider.Offering) string {
		return fmt.Sprintf("%s %v %v %d", o.Requirements, o.Price, o.Available, o.ReservationCapacity)
	}
	as, bs := make([]string, len(a.Offerings)), make([]string, len(b.Offerings))
	for i := range a.Offerings {
		as[i], bs[i] = key(a.Offerings[i]), key(b.Offerings[i])
	}
	sort.Strings(as)
	sort.Strings(bs)
	for i := range as {
		if as[i] != bs[i] {
			return "offering " + as[i] + ", want " + bs[i]
		}
	}
	return ""
}
