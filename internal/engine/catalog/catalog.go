// Package catalog holds the instance-type catalogs that karpctl plans against: plain data (names,
// requirements, capacity, overhead, offerings per zone and capacity type with prices) read from
// Karpenter's kwok JSON format, and the conversion into Karpenter's cloudprovider.InstanceType.
//
// One catalog is embedded (see data/ and `go generate`): "kwok", Karpenter's own kwok provider catalog
// (144 synthetic types, zones test-zone-a..d). Any other file in the kwok format can be read with
// Load. EC2 instance types are not a catalog: the AWS provider's own model computes them per
// EC2NodeClass (package catalog/aws).
//
// The package imports no Karpenter provider package, so no provider init mutates globals. The label
// keys that catalogs put on instance types must be well known to Karpenter for pods to select on them;
// RegisterWellKnownLabels does that explicitly (engine.Plan calls it) — it is the one global mutation.
package catalog

//go:generate go run ./gen -out data

import (
	_ "embed"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// Well-known label keys used by the embedded catalogs.
const (
	// Labels Karpenter's kwok provider derives for every instance type.
	KwokInstanceSizeLabel   = "karpenter.kwok.sh/instance-size"
	KwokInstanceFamilyLabel = "karpenter.kwok.sh/instance-family"
	KwokInstanceCPULabel    = "karpenter.kwok.sh/instance-cpu"
	KwokInstanceMemoryLabel = "karpenter.kwok.sh/instance-memory"
)

// Kwok is the name of the embedded catalog.
const Kwok = "kwok"

// NodeClass kinds of the providers whose catalogs are embedded.
var (
	KWOKNodeClass = schema.GroupKind{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass"}
	EC2NodeClass  = schema.GroupKind{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass"}
)

// Catalog is a set of instance types and the NodeClass kinds whose NodePools may use them.
type Catalog struct {
	Name          string             `json:"name"`
	InstanceTypes []InstanceType     `json:"instanceTypes"`
	NodeClasses   []schema.GroupKind `json:"nodeClasses"`
}

// InstanceType is one machine shape.
type InstanceType struct {
	Name             string   `json:"name"`
	Architecture     string   `json:"architecture"`
	OperatingSystems []string `json:"operatingSystems"`
	// Capacity is the full capacity (cpu, memory, pods, ephemeral-storage, ...).
	Capacity corev1.ResourceList `json:"capacity"`
	// Overhead is kube-reserved; allocatable = capacity - overhead.
	Overhead corev1.ResourceList `json:"overhead"`
	// Labels are single-valued well-known labels such as instance family, cpu and memory.
	Labels    map[string]string `json:"labels,omitempty"`
	Offerings []Offering        `json:"offerings"`
}

// Offering is one place and way to buy an instance type.
type Offering struct {
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	Price        float64 `json:"price"`
	Available    bool    `json:"available"`
	// ReservationCapacity is only meaningful for capacity type "reserved".
	ReservationCapacity int `json:"reservationCapacity,omitempty"`
}

//go:embed data/kwok.json
var kwokJSON []byte

// Named returns the embedded catalog by name ("kwok").
func Named(name string) (*Catalog, error) {
	if name != "" && name != Kwok {
		return nil, fmt.Errorf("unknown catalog %q (known: %s; or give a file in the kwok instance-types format)", name, Kwok)
	}
	return Parse(Kwok, kwokJSON, KwokLabels, KWOKNodeClass)
}

// LabelKeys lists every label key the catalog's instance types carry besides the standard ones.
func (c *Catalog) LabelKeys() []string {
	set := map[string]bool{}
	for _, it := range c.InstanceTypes {
		for k := range it.Labels {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var wellKnownMu sync.Mutex

// RegisterWellKnownLabels adds the catalog's label keys to Karpenter's global v1.WellKnownLabels, as a
// provider's init would; without it pods selecting e.g. instance-family are judged incompatible. It
// only ever inserts, and must not run concurrently with a scheduling simulation of another goroutine.
func (c *Catalog) RegisterWellKnownLabels() {
	wellKnownMu.Lock()
	defer wellKnownMu.Unlock()
	for _, k := range c.LabelKeys() {
		if !karpv1.WellKnownLabels.Has(k) {
			karpv1.WellKnownLabels.Insert(k)
		}
	}
}

// KarpenterInstanceTypes builds fresh Karpenter instance types, exactly as Karpenter's kwok provider
// does (kwok/cloudprovider/helpers.go newInstanceType): requirements on instance type, arch, os, zones,
// capacity types and the catalog labels; kube-reserved overhead. Fresh objects each call, because
// Karpenter caches allocatable per instance type.
func (c *Catalog) KarpenterInstanceTypes() []*cloudprovider.InstanceType {
	out := make([]*cloudprovider.InstanceType, 0, len(c.InstanceTypes))
	for i := range c.InstanceTypes {
		it := &c.InstanceTypes[i]
		var zones, capacityTypes []string
		seenZ, seenC := map[string]bool{}, map[string]bool{}
		offerings := make(cloudprovider.Offerings, 0, len(it.Offerings))
		for _, o := range it.Offerings {
			if !seenZ[o.Zone] {
				seenZ[o.Zone] = true
				zones = append(zones, o.Zone)
			}
			if !seenC[o.CapacityType] {
				seenC[o.CapacityType] = true
				capacityTypes = append(capacityTypes, o.CapacityType)
			}
			offerings = append(offerings, &cloudprovider.Offering{
				Requirements: scheduling.NewRequirements(
					scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, o.CapacityType),
					scheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, o.Zone),
				),
				Price:               o.Price,
				Available:           o.Available,
				ReservationCapacity: o.ReservationCapacity,
			})
		}
		reqs := []*scheduling.Requirement{
			scheduling.NewRequirement(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, it.Name),
			scheduling.NewRequirement(corev1.LabelArchStable, corev1.NodeSelectorOpIn, it.Architecture),
			scheduling.NewRequirement(corev1.LabelOSStable, corev1.NodeSelectorOpIn, it.OperatingSystems...),
			scheduling.NewRequirement(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, zones...),
			scheduling.NewRequirement(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, capacityTypes...),
		}
		keys := make([]string, 0, len(it.Labels))
		for k := range it.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			reqs = append(reqs, scheduling.NewRequirement(k, corev1.NodeSelectorOpIn, it.Labels[k]))
		}
		out = append(out, &cloudprovider.InstanceType{
			Name:         it.Name,
			Requirements: scheduling.NewRequirements(reqs...),
			Offerings:    offerings,
			Capacity:     it.Capacity.DeepCopy(),
			Overhead:     &cloudprovider.InstanceTypeOverhead{KubeReserved: it.Overhead.DeepCopy()},
		})
	}
	return out
}

// defaultOverhead is the kube-reserved overhead Karpenter's kwok provider gives every instance type.
func defaultOverhead() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("100m"),
		corev1.ResourceMemory: resource.MustParse("10Mi"),
	}
}
