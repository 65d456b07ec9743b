package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"

	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// InstanceTypeSource answers what a cloud provider's GetInstanceTypes answers: the instance types a
// NodePool may launch, which depend on the NodeClass it references. Plan asks it for every NodePool;
// the NodePools of one NodeClass get the same answer.
type InstanceTypeSource interface {
	// Serves says whether NodePools referencing this NodeClass kind are planned with the source.
	Serves(kind schema.GroupKind) bool
	// Resolve returns the instance types for the NodeClass a NodePool references. A *NodeClassError
	// means Karpenter would skip the NodePool (its NodeClass is missing or not Ready).
	Resolve(ctx context.Context, ref *karpv1.NodeClassReference) (*Resolved, error)
}

// Resolved is one NodeClass's instance types.
type Resolved struct {
	// Source names where they come from: "kwok", "aws", a catalog file.
	Source        string
	InstanceTypes []*cloudprovider.InstanceType
	// Warnings are facts about the NodeClass the plan should show (e.g. no status offline).
	Warnings []string
	// Region and AWSData are set for the AWS provider's model.
	Region  string
	AWSData *AWSData
}

// NodeClassError says why Karpenter would not provision with the NodePools referencing a NodeClass:
// Reason and Message are those of the NodePool's NodeClassReady condition that Karpenter's readiness
// controller (pkg/controllers/nodepool/readiness) would set.
type NodeClassError struct {
	Kind, Name      string
	Reason, Message string
}

func (e *NodeClassError) Error() string {
	return fmt.Sprintf("%s %s: NodeClassReady=False, %s: %s", e.Kind, e.Name, e.Reason, e.Message)
}

// ByNodeClass dispatches each NodeClass to the first source that serves its kind: how Karpenter runs
// with one cloud provider per NodeClass kind, and karpctl with several at once.
type ByNodeClass []InstanceTypeSource

func (b ByNodeClass) Serves(kind schema.GroupKind) bool { return b.source(kind) != nil }

func (b ByNodeClass) Resolve(ctx context.Context, ref *karpv1.NodeClassReference) (*Resolved, error) {
	s := b.source(ref.GroupKind())
	if s == nil {
		return nil, fmt.Errorf("no instance-type source serves %s.%s", ref.Kind, ref.Group)
	}
	return s.Resolve(ctx, ref)
}

func (b ByNodeClass) source(kind schema.GroupKind) InstanceTypeSource {
	for _, s := range b {
		if s.Serves(kind) {
			return s
		}
	}
	return nil
}

// Sources is the default: KWOKNodeClass NodePools get kwok's catalog, EC2NodeClass NodePools the AWS
// provider's model for their EC2NodeClass of the snapshot, in region (see AWSRegion).
func Sources(snap *Snapshot, region string) (InstanceTypeSource, error) {
	kwok, err := catalog.Named(catalog.Kwok)
	if err != nil {
		return nil, err
	}
	return ByNodeClass{CatalogSource(kwok, false), newAWSSource(snap, region)}, nil
}

// CatalogSource serves a catalog: to the NodeClass kinds it names, or, as an override (--catalog),
// to every NodePool whatever its NodeClass.
func CatalogSource(c *catalog.Catalog, override bool) InstanceTypeSource {
	return &catalogSource{catalog: c, override: override}
}

type catalogSource struct {
	catalog  *catalog.Catalog
	override bool

	once     sync.Once
	resolved *Resolved
}

func (s *catalogSource) Serves(kind schema.GroupKind) bool {
	return s.override || slices.Contains(s.catalog.NodeClasses, kind)
}

// Resolve gives every NodeClass the catalog's instance types, built once and shared by every
// NodePool, as a provider's GetInstanceTypes answers them (and as awsSource does per EC2NodeClass).
func (s *catalogSource) Resolve(context.Context, *karpv1.NodeClassReference) (*Resolved, error) {
	s.once.Do(func() {
		s.catalog.RegisterWellKnownLabels()
		s.resolved = &Resolved{Source: s.catalog.Name, InstanceTypes: s.catalog.KarpenterInstanceTypes()}
	})
	return s.resolved, nil
}

// ErrUnknownZone means a --zone-down zone is not one any usable NodePool can launch in.
var ErrUnknownZone = errors.New("unknown zone")

// offeredZones lists the zones of every available offering of the instance types, sorted (the AWS
// provider offers every zone of the region, those without a subnet unavailable).
func offeredZones(sets ...[]*cloudprovider.InstanceType) []string {
	seen := map[string]bool{}
	for _, its := range sets {
		for _, it := range its {
			for _, o := range it.Offerings.Available() {
				seen[o.Zone()] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for z := range seen {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

func checkZone(zone string, zones []string) error {
	if slices.Contains(zones, zone) {
		return nil
	}
	return fmt.Errorf("%w %q: no usable NodePool can launch there (zones: %s)", ErrUnknownZone, zone, strings.Join(zones, ", "))
}

// zoneKeys are the labels an offering's zone is known by; a zone taken down leaves both.
var zoneKeys = []string{corev1.LabelTopologyZone, "topology.k8s.aws/zone-id"}

// withoutZones returns new instance types without the offerings in the zones that are down (types
// left with none are dropped); their zone (and zone-id) requirements keep only the zones left, as a
// provider whose subnets there were gone would build them.
func withoutZones(its []*cloudprovider.InstanceType, down map[string]bool) []*cloudprovider.InstanceType {
	if len(down) == 0 {
		return its
	}
	out := make([]*cloudprovider.InstanceType, 0, len(its))
	for _, it := range its {
		var offs cloudprovider.Offerings
		for _, o := range it.Offerings {
			if !down[o.Zone()] {
				offs = append(offs, o)
			}
		}
		if len(offs) == 0 {
			continue
		}
		reqs := scheduling.NewRequirements(it.Requirements.Values()...)
		for _, key := range zoneKeys {
			if !reqs.Has(key) {
				continue
			}
			var left []string
			for _, o := range offs {
				if o.Requirements.Has(key) {
					left = append(left, o.Requirements.Get(key).Values()...)
				}
			}
			if len(left) > 0 {
				reqs[key] = scheduling.NewRequirement(key, corev1.NodeSelectorOpIn, left...)
			}
		}
		out = append(out, &cloudprovider.InstanceType{
			Name: it.Name, Requirements: reqs, Offerings: offs, Capacity: it.Capacity,
			VolumeAttachmentLimits: it.VolumeAttachmentLimits, DynamicResources: it.DynamicResources, Overhead: it.Overhead,
		})
	}
	return out
}
