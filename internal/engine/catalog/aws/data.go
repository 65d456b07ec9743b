// Package aws models Karpenter's AWS provider (github.com/aws/karpenter-provider-aws v1.15.0) offline:
// the instance types an EC2NodeClass gets in a region are built by the provider's own instance-type
// provider (pkg/providers/instancetype: requirements and labels, capacity, kube-reserved and
// system-reserved overhead and eviction thresholds by AMI family, ENI-limited max pods, ephemeral
// storage, GPUs, Neuron, EFA and pod ENIs, and its offering resolvers), fed with EC2 facts that a
// documented `go generate` step (./gen) writes into zz_generated.ec2.json.gz. karpctl supplies only
// the facts that the provider would read from the EC2 and Pricing APIs; every formula is the provider's.
//
// Importing the provider's apis/v1 package runs its init, which does what the provider's binary does:
// registers EC2NodeClass in client-go's scheme, adds the karpenter.k8s.aws labels to Karpenter's
// WellKnownLabels (and its restricted label domains, requirement values and well-known resources),
// and sets cloudprovider.ReservationIDLabel to karpenter.k8s.aws/capacity-reservation-id.
package aws

//go:generate go run ./gen -out zz_generated.ec2.json.gz -go zz_generated.ec2.go

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

//go:embed zz_generated.ec2.json.gz
var dataGz []byte

var (
	dataOnce sync.Once
	data     *ec2data.File
	dataErr  error
)

// load decodes the embedded data on first use.
func load() (*ec2data.File, error) {
	dataOnce.Do(func() {
		data, dataErr = decode(dataGz)
	})
	return data, dataErr
}

func decode(gz []byte) (*ec2data.File, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("embedded EC2 data: %w", err)
	}
	defer zr.Close()
	f := &ec2data.File{}
	if err := json.NewDecoder(zr).Decode(f); err != nil {
		return nil, fmt.Errorf("embedded EC2 data: %w", err)
	}
	for name, r := range f.Regions {
		if len(r.OnDemand) != len(f.Types) || (r.Spot != nil && len(r.Spot) != len(f.Types)) || (r.Offered != nil && len(r.Offered) != len(f.Types)) {
			return nil, fmt.Errorf("embedded EC2 data: region %s has price columns of the wrong length", name)
		}
	}
	return f, nil
}

// Info says where the EC2 facts and prices come from and how old they are.
type Info struct {
	// Generated is when `go generate` wrote the data.
	Generated time.Time `json:"generated"`
	// Sources lists the inputs (module, version, file, date).
	Sources []string `json:"sources"`
	// SpotEstimated is true: offline spot prices are estimates, not EC2's live spot prices.
	SpotEstimated bool `json:"spotEstimated"`
	// SpotSource says where the spot estimates come from.
	SpotSource string `json:"spotSource"`
	// OnDemandEstimate says which on-demand prices are estimates and how they are estimated.
	OnDemandEstimate string `json:"onDemandEstimate,omitempty"`
	// Provider is the AWS provider module whose code builds the instance types.
	Provider string `json:"provider"`
	// USEast1PricesOf is the date of us-east-1's on-demand prices (the provider's own price table);
	// PricesOf is the date of every other region's on-demand prices and of the spot estimates.
	USEast1PricesOf string `json:"usEast1PricesOf"`
	PricesOf        string `json:"pricesOf"`
}

// PricesDate is the date of the on-demand prices of region.
func (i Info) PricesDate(region string) string {
	if region == "us-east-1" {
		return i.USEast1PricesOf
	}
	return i.PricesOf
}

// DataInfo describes the embedded data without decoding it (the facts live in zz_generated.ec2.go).
func DataInfo() Info {
	return Info{
		Generated:        generatedAt,
		Sources:          append([]string(nil), generatedSources...),
		SpotEstimated:    true,
		SpotSource:       spotSource,
		OnDemandEstimate: onDemandEstimate,
		Provider:         providerModule,
		USEast1PricesOf:  usEast1PricesOf,
		PricesOf:         pricesOf,
	}
}

// Zone is an availability zone: its name (us-east-1a) and zone ID (use1-az1).
type Zone struct {
	Name string `json:"name"`
	ID   string `json:"id"`
}

// Regions lists the commercial regions the generated data has on-demand prices for, sorted.
func Regions() []string {
	f, err := load()
	if err != nil {
		return nil
	}
	return regionNames(f)
}

func regionNames(f *ec2data.File) []string {
	out := make([]string, 0, len(f.Regions))
	for r := range f.Regions {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// UnknownRegionError is returned for a region the data does not know.
type UnknownRegionError struct {
	Region string
	Known  []string
}

func (e *UnknownRegionError) Error() string {
	return fmt.Sprintf("unknown AWS region %q (known: %s)", e.Region, strings.Join(e.Known, ", "))
}

// regionData returns the region's data or an *UnknownRegionError.
func regionData(region string) (*ec2data.File, ec2data.Region, error) {
	f, err := load()
	if err != nil {
		return nil, ec2data.Region{}, err
	}
	r, ok := f.Regions[region]
	if !ok {
		return nil, ec2data.Region{}, &UnknownRegionError{Region: region, Known: regionNames(f)}
	}
	return f, r, nil
}

// Zones lists the zones known for a region, sorted by zone ID. EC2 maps zone names to zone IDs per
// account; the data knows only the IDs, so the names are given to the IDs in order (the first ID gets
// <region>a, …), which is how the oldest accounts see them but not necessarily how yours does.
func Zones(region string) ([]Zone, error) {
	_, r, err := regionData(region)
	if err != nil {
		return nil, err
	}
	return zonesOf(region, r), nil
}

func zonesOf(region string, r ec2data.Region) []Zone {
	out := make([]Zone, len(r.ZoneIDs))
	for i, id := range r.ZoneIDs {
		out[i] = Zone{Name: fmt.Sprintf("%s%c", region, 'a'+i), ID: id}
	}
	return out
}
