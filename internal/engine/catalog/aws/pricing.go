package aws

import (
	"context"
	"net/http"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// offlinePricing is the provider's pricing.Provider answered from the generated prices of one
// region. Spot prices are estimates (DataInfo().SpotSource); a type without an estimate gets its
// on-demand price, as the provider's own pricing provider answers before it has read spot history.
type offlinePricing struct {
	onDemand map[ec2types.InstanceType]float64
	spot     map[ec2types.InstanceType]float64
}

func newOfflinePricing(f *ec2data.File, r ec2data.Region) *offlinePricing {
	p := &offlinePricing{onDemand: map[ec2types.InstanceType]float64{}, spot: map[ec2types.InstanceType]float64{}}
	for i, t := range f.Types {
		name := ec2types.InstanceType(t.Name)
		if r.OnDemand[i] > 0 {
			p.onDemand[name] = r.OnDemand[i]
		}
		switch {
		case r.Spot != nil && r.Spot[i] > 0:
			p.spot[name] = r.Spot[i]
		case r.OnDemand[i] > 0:
			p.spot[name] = r.OnDemand[i]
		}
	}
	return p
}

func (p *offlinePricing) LivenessProbe(*http.Request) error { return nil }

func (p *offlinePricing) InstanceTypes() []ec2types.InstanceType {
	out := make([]ec2types.InstanceType, 0, len(p.onDemand))
	for it := range p.onDemand {
		out = append(out, it)
	}
	return out
}

func (p *offlinePricing) OnDemandPrice(it ec2types.InstanceType) (float64, bool) {
	v, ok := p.onDemand[it]
	return v, ok
}

func (p *offlinePricing) SpotPrice(it ec2types.InstanceType, _ string) (float64, bool) {
	v, ok := p.spot[it]
	return v, ok
}

func (p *offlinePricing) UpdateOnDemandPricing(context.Context) error { return nil }
func (p *offlinePricing) UpdateSpotPricing(context.Context) error     { return nil }

// PriceEstimated reports whether an offering's price is an estimate: offline, every spot price is
// (see DataInfo().SpotSource); on-demand prices are the published ones and reserved offerings are
// priced by the provider from them.
func PriceEstimated(o *cloudprovider.Offering) bool {
	return o.CapacityType() == karpv1.CapacityTypeSpot
}
