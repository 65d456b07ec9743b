package aws

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	awscache "github.com/aws/karpenter-provider-aws/pkg/cache"
	kubeletcel "github.com/aws/karpenter-provider-aws/pkg/cel"
	"github.com/aws/karpenter-provider-aws/pkg/providers/arczonalshift"
	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype/offering"
	"github.com/patrickmn/go-cache"
	"k8s.io/apimachinery/pkg/util/sets"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// list builds the instance types as instancetype.DefaultProvider.List does, without its caches:
// DefaultResolver.Resolve for every type DescribeInstanceTypes returns (with the filters
// DefaultProvider.UpdateInstanceTypes sends) in the zones DescribeInstanceTypeOfferings lists, then
// the offering provider's InjectOfferings (on-demand and spot per zone, reserved from the status).
// Going through DefaultProvider itself costs ~25 ms more per call, spent hashing every
// InstanceTypeInfo for its change monitor; TestListEqualsProvider checks both give the same types.
func list(ctx context.Context, f *ec2data.File, r ec2data.Region, region string, zones []Zone, nc *awsv1.EC2NodeClass) ([]*cloudprovider.InstanceType, error) {
	celEnv, err := kubeletcel.NewEnvironment()
	if err != nil {
		return nil, err
	}
	parsed, err := awsv1.ParseKubeletConfig(nc.KubeletConfiguration())
	if err != nil {
		return nil, fmt.Errorf("parsing spec.kubelet, %w", err)
	}
	e := newOfflineEC2(f, r, zones)
	zonesOf := map[ec2types.InstanceType][]string{}
	all := sets.New[string]()
	for _, o := range e.offerings {
		zonesOf[o.InstanceType] = append(zonesOf[o.InstanceType], aws.ToString(o.Location))
		all.Insert(aws.ToString(o.Location))
	}
	out, err := e.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{Filters: []ec2types.Filter{
		{Name: aws.String("supported-virtualization-type"), Values: []string{"hvm"}},
		{Name: aws.String("processor-info.supported-architecture"), Values: []string{"x86_64", "arm64"}},
	}})
	if err != nil {
		return nil, err
	}
	infos := make(map[ec2types.InstanceType]ec2types.InstanceTypeInfo, len(out.InstanceTypes))
	for _, info := range out.InstanceTypes {
		infos[info.InstanceType] = info
	}
	op := offering.NewDefaultProvider(newOfflinePricing(f, r), offlineReservations{free: reservationsFree(ctx)}, offlinePlacementGroups{}, awscache.NewUnavailableOfferings(),
		cache.New(awscache.InstanceTypesZonesAndOfferingsTTL, awscache.DefaultCleanupInterval), arczonalshift.NewNoopProvider(), nil)
	// Each type is resolved and offered on its own, so the list is built in as many parts as there are
	// CPUs and put back together in DescribeInstanceTypes' order: the same types, in about half the time
	// on two cores.
	parts := chunks(out.InstanceTypes, runtime.GOMAXPROCS(0))
	built, errs := make([][]*cloudprovider.InstanceType, len(parts)), make([]error, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		wg.Go(func() {
			resolver := instancetype.NewDefaultResolver(region, celEnv)
			its := make([]*cloudprovider.InstanceType, 0, len(part))
			for _, info := range part {
				it, err := resolver.Resolve(ctx, info, zonesOf[info.InstanceType], nc, parsed)
				if err != nil {
					errs[i] = err
					return
				}
				if it != nil {
					its = append(its, it)
				}
			}
			built[i] = op.InjectOfferings(ctx, its, infos, nc, all)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(built...), nil
}

// chunks splits s into at most n parts of nearly equal length, in order.
func chunks[T any](s []T, n int) [][]T {
	n = max(1, min(n, len(s)))
	out := make([][]T, 0, n)
	for i := range n {
		out = append(out, s[i*len(s)/n:(i+1)*len(s)/n])
	}
	return out
}
