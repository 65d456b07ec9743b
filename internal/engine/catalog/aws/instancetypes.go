package aws

import (
	"context"
	"fmt"
	"sort"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/aws/karpenter-provider-aws/pkg/providers/placementgroup"
	"k8s.io/utils/clock"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"

	"github.com/karpctl/karpctl/internal/buildinfo"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// providerModule names the bundled AWS provider as the data's header prints it: module and version.
var providerModule = "github.com/aws/karpenter-provider-aws " + buildinfo.ModuleVersion("github.com/aws/karpenter-provider-aws")

// InstanceTypes returns the instance types the AWS provider builds for nodeClass in region, through
// the provider's own code (the two calls its instancetype.DefaultProvider.List makes, see list):
// requirements and labels, capacity, overhead by AMI
// family and spec.kubelet, max pods, ephemeral storage from blockDeviceMappings and
// instanceStorePolicy, GPUs, Neuron, EFA, pod ENIs, and offerings per zone of status.subnets and per
// capacity type, priced with the region's on-demand prices and spot estimates. When the status
// lists no subnets, every zone of the region is used and a warning says so. The warnings are plain
// sentences for the user. An unknown region is an *UnknownRegionError naming the known regions.
//
// ctx must carry Karpenter's options (as engine.Plan's context does); the provider's own options
// are set here. Every call builds fresh objects (Karpenter caches allocatable per instance type object).
func InstanceTypes(ctx context.Context, nodeClass *awsv1.EC2NodeClass, region string) ([]*cloudprovider.InstanceType, []string, error) {
	f, err := load()
	if err != nil {
		return nil, nil, err
	}
	return instanceTypesFrom(ctx, f, nodeClass, region)
}

// instanceTypesFrom is InstanceTypes over a given data file.
func instanceTypesFrom(ctx context.Context, f *ec2data.File, nodeClass *awsv1.EC2NodeClass, region string) ([]*cloudprovider.InstanceType, []string, error) {
	r, ok := f.Regions[region]
	if !ok {
		return nil, nil, &UnknownRegionError{Region: region, Known: regionNames(f)}
	}
	if nodeClass == nil {
		return nil, nil, fmt.Errorf("no EC2NodeClass given")
	}
	nc := nodeClass.DeepCopy()
	refreshReservationStates(nc, clock.RealClock{})
	var warnings []string
	zones, w, err := nodeClassZones(nc, region, zonesOf(region, r))
	if err != nil {
		return nil, nil, err
	}
	warnings = append(warnings, w...)
	ctx, err = withOptions(ctx)
	if err != nil {
		return nil, nil, err
	}
	its, err := list(ctx, f, r, region, zones, nc)
	if err != nil {
		return nil, nil, fmt.Errorf("EC2NodeClass %s: instance types: %w", nc.Name, err)
	}
	sort.Slice(its, func(i, j int) bool { return its[i].Name < its[j].Name })
	warnings = append(warnings, offeringWarnings(nc, its, region, len(r.OnDemandEstimated))...)
	warnings = append(warnings, reservationWarnings(nc, coreoptions.FromContext(ctx).FeatureGates.ReservedCapacity, reservationsFree(ctx))...)
	return its, warnings, nil
}

// nodeClassZones returns the zones of the region with names and IDs, taking the NodeClass's own
// subnet zones first; a NodeClass without subnets in its status gets every zone of the region.
func nodeClassZones(nc *awsv1.EC2NodeClass, region string, known []Zone) ([]Zone, []string, error) {
	var warnings []string
	if len(nc.Status.Subnets) == 0 && len(known) == 0 {
		return nil, nil, fmt.Errorf("EC2NodeClass %s has no subnets in its status, and karpctl knows no zones of %s: give the EC2NodeClass with its status", nc.Name, region)
	}
	if len(nc.Status.Subnets) == 0 {
		for _, z := range known {
			nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z.Name, Zone: z.Name, ZoneID: z.ID})
		}
		names := make([]string, len(known))
		for i, z := range known {
			names[i] = z.Name
		}
		warnings = append(warnings, fmt.Sprintf("EC2NodeClass %s has no subnets in its status: planning for every zone of %s (%s); zone names are matched to zone IDs in order, which may differ in your account",
			nc.Name, region, strings.Join(names, ", ")))
	}
	byID, byName := map[string]bool{}, map[string]bool{}
	var zones []Zone
	for _, s := range nc.Status.Subnets {
		if !strings.HasPrefix(s.Zone, region) {
			return nil, nil, fmt.Errorf("EC2NodeClass %s: subnet %s is in zone %q, not in region %s", nc.Name, s.ID, s.Zone, region)
		}
		if byName[s.Zone] {
			continue
		}
		byName[s.Zone] = true
		if s.ZoneID != "" {
			byID[s.ZoneID] = true
		}
		zones = append(zones, Zone{Name: s.Zone, ID: s.ZoneID})
	}
	// The region's other zones keep the data's names where these are free.
	for _, z := range known {
		if !byID[z.ID] && !byName[z.Name] {
			zones = append(zones, z)
			byID[z.ID], byName[z.Name] = true, true
		}
	}
	return zones, warnings, nil
}

// offeringWarnings says what the plan cannot know offline.
func offeringWarnings(nc *awsv1.EC2NodeClass, its []*cloudprovider.InstanceType, region string, estimated int) []string {
	var warnings []string
	if estimated > 0 {
		warnings = append(warnings, fmt.Sprintf("%d instance types of newer families have no published on-demand price for %s in the EC2 data: their prices are estimated from us-east-1's", estimated, region))
	}
	unpriced := 0
	for _, it := range its {
		if len(it.Offerings.Available()) == 0 {
			unpriced++
		}
	}
	if unpriced > 0 {
		warnings = append(warnings, fmt.Sprintf("%d instance types have no known price or offering in %s and are not launched", unpriced, region))
	}
	if nc.Spec.PlacementGroupSelector != nil {
		warnings = append(warnings, fmt.Sprintf("EC2NodeClass %s selects a placement group: it is not modelled offline", nc.Name))
	}
	return warnings
}

// reservationWarnings says what the plan does with the capacity reservations in the EC2NodeClass's
// status. With Karpenter's ReservedCapacity feature gate off, the provider's offering code
// (offering.ReservedCapacityResolver) adds no reserved offering and Karpenter's scheduler reserves
// none, so they are ignored, and the warning says so. With it on, a reservation whose free count
// was not given is counted full.
func reservationWarnings(nc *awsv1.EC2NodeClass, gate bool, free map[string]int) []string {
	crs := nc.Status.CapacityReservations
	if len(crs) == 0 {
		return nil
	}
	if !gate {
		ids := make([]string, len(crs))
		for i, cr := range crs {
			ids[i] = cr.ID
		}
		return []string{fmt.Sprintf("EC2NodeClass %s: capacity reservations ignored (%d: %s): Karpenter runs with the ReservedCapacity feature gate off and launches into none (FEATURE_GATES=ReservedCapacity=true, Karpenter's default, turns them on; --karpenter-setting FEATURE_GATES=ReservedCapacity=true plans with them)",
			nc.Name, len(crs), strings.Join(ids, ", "))}
	}
	var unknown []string
	for _, cr := range crs {
		if _, ok := free[cr.ID]; !ok {
			unknown = append(unknown, cr.ID)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("EC2NodeClass %s: how many instances capacity reservations %s have free is EC2's to say, not in the status: none is counted free (give --capacity-reservation ID=FREE)",
		nc.Name, strings.Join(unknown, ", "))}
}

// offlinePlacementGroups resolves no placement group (one is only looked up for a NodeClass that
// selects one, which offeringWarnings reports).
type offlinePlacementGroups struct{}

func (offlinePlacementGroups) Get(context.Context, placementgroup.NodeClass) (*placementgroup.PlacementGroup, error) {
	return nil, nil
}
