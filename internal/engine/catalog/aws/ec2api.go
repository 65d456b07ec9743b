package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	sdk "github.com/aws/karpenter-provider-aws/pkg/aws"
	"k8s.io/apimachinery/pkg/util/sets"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// offlineEC2 answers the two EC2 calls the provider's instance-type provider makes
// (DescribeInstanceTypes, DescribeInstanceTypeOfferings) from the generated data. Every other call
// of the interface is absent: the provider's instance-type listing does not make it.
type offlineEC2 struct {
	sdk.EC2API
	infos     []ec2types.InstanceTypeInfo
	offerings []ec2types.InstanceTypeOffering
}

func newOfflineEC2(f *ec2data.File, r ec2data.Region, zones []Zone) *offlineEC2 {
	e := &offlineEC2{infos: instanceTypeInfos(f)}
	bit := map[string]int{}
	for i, id := range r.ZoneIDs {
		bit[id] = i
	}
	for i, t := range f.Types {
		// A type is offered in a region when the data has a price for it there (EC2 would not price what
		// it does not sell), in the zones the data lists for it; in a zone the data knows nothing of (or
		// when it lists no zones for the type) it is assumed offered.
		if r.OnDemand[i] == 0 && (r.Spot == nil || r.Spot[i] == 0) {
			continue
		}
		for _, z := range zones {
			if b, known := bit[z.ID]; known && r.Offered != nil && r.Offered[i] != 0 && r.Offered[i]&(1<<b) == 0 {
				continue
			}
			e.offerings = append(e.offerings, ec2types.InstanceTypeOffering{
				InstanceType: ec2types.InstanceType(t.Name),
				Location:     aws.String(z.Name),
				LocationType: ec2types.LocationTypeAvailabilityZone,
			})
		}
	}
	return e
}

// DescribeInstanceTypes applies the filters the provider sends (supported-virtualization-type,
// processor-info.supported-architecture) and returns one page.
func (e *offlineEC2) DescribeInstanceTypes(_ context.Context, in *ec2.DescribeInstanceTypesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypesOutput, error) {
	out := &ec2.DescribeInstanceTypesOutput{}
	for _, info := range e.infos {
		ok, err := matches(info, in.Filters)
		if err != nil {
			return nil, err
		}
		if ok {
			out.InstanceTypes = append(out.InstanceTypes, info)
		}
	}
	return out, nil
}

func matches(info ec2types.InstanceTypeInfo, filters []ec2types.Filter) (bool, error) {
	for _, f := range filters {
		want := sets.New(f.Values...)
		var have []string
		switch aws.ToString(f.Name) {
		case "supported-virtualization-type":
			for _, v := range info.SupportedVirtualizationTypes {
				have = append(have, string(v))
			}
		case "processor-info.supported-architecture":
			for _, a := range info.ProcessorInfo.SupportedArchitectures {
				have = append(have, string(a))
			}
		default:
			return false, fmt.Errorf("offline DescribeInstanceTypes: filter %q is not modelled", aws.ToString(f.Name))
		}
		if !want.HasAny(have...) {
			return false, nil
		}
	}
	return true, nil
}

// DescribeInstanceTypeOfferings returns the availability-zone offerings of the region.
func (e *offlineEC2) DescribeInstanceTypeOfferings(_ context.Context, in *ec2.DescribeInstanceTypeOfferingsInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstanceTypeOfferingsOutput, error) {
	if in.LocationType != "" && in.LocationType != ec2types.LocationTypeAvailabilityZone {
		return nil, fmt.Errorf("offline DescribeInstanceTypeOfferings: location type %q is not modelled", in.LocationType)
	}
	return &ec2.DescribeInstanceTypeOfferingsOutput{InstanceTypeOfferings: e.offerings}, nil
}
