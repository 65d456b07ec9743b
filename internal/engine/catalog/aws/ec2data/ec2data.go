// Package ec2data is the format of the EC2 facts that package aws embeds: per instance type what the
// AWS provider reads from EC2's DescribeInstanceTypes (and DescribeInstanceTypeOfferings), and
// per region the on-demand prices and spot price estimates. It is written by ../gen and read by
// package aws; it has no behaviour of its own.
package ec2data

import "time"

// File is the whole generated data set.
type File struct {
	// Generated is when the generator ran; Sources names every input with its version and date.
	Generated time.Time `json:"generated"`
	Sources   []string  `json:"sources"`
	// SpotSource says where spot prices come from (they are estimates, not live spot prices).
	SpotSource string `json:"spotSource"`
	// OnDemandEstimate says how the on-demand prices listed in Region.OnDemandEstimated are estimated.
	OnDemandEstimate string `json:"onDemandEstimate,omitempty"`
	// Types is sorted by name.
	Types []Type `json:"types"`
	// Regions maps a commercial region to its zones and prices.
	Regions map[string]Region `json:"regions"`
}

// Region holds what is known per region.
type Region struct {
	// ZoneIDs lists the region's availability-zone IDs (use1-az1, …), sorted.
	ZoneIDs []string `json:"zoneIDs"`
	// OnDemand and Spot are prices in USD per hour, indexed like File.Types; 0 means unknown.
	OnDemand []float64 `json:"onDemand"`
	Spot     []float64 `json:"spot,omitempty"`
	// OnDemandEstimated lists, sorted, the indexes into File.Types whose on-demand price in the
	// region is an estimate (see File.OnDemandEstimate), not a published price.
	OnDemandEstimated []int32 `json:"odEstimated,omitempty"`
	// Offered holds, indexed like File.Types, the zones the type is offered in as a bit set over
	// ZoneIDs (bit i: ZoneIDs[i]); 0 (or no Offered at all) means every zone of the region, which is
	// assumed when the source does not say.
	Offered []uint64 `json:"offered,omitempty"`
}

// Type is one EC2 instance type, in the terms of ec2types.InstanceTypeInfo.
type Type struct {
	Name string `json:"n"`
	// Architectures as EC2 names them (x86_64, arm64, i386), in EC2's order.
	Architectures []string `json:"arch"`
	VCPUs         int32    `json:"cpu"`
	MemoryMiB     int64    `json:"mem"`
	// CPUManufacturer as EC2 names it (Intel, AMD, AWS, Apple); ClockGHz the sustained clock speed.
	CPUManufacturer string  `json:"cpuMfr,omitempty"`
	ClockGHz        float64 `json:"ghz,omitempty"`
	Hypervisor      string  `json:"hv,omitempty"`
	BareMetal       bool    `json:"metal,omitempty"`
	// UsageClasses: on-demand, spot.
	UsageClasses []string `json:"usage"`
	// Virtualization types: hvm, paravirtual.
	Virtualization []string `json:"virt"`

	GPUs        []Device `json:"gpus,omitempty"`
	Inference   []Device `json:"inf,omitempty"`
	Neuron      []Device `json:"neuron,omitempty"`
	StorageGB   int64    `json:"storageGB,omitempty"`
	StorageNVMe string   `json:"nvme,omitempty"` // required, supported, unsupported

	// Network.
	MaxENIs             int32  `json:"enis"`
	IPv4PerENI          int32  `json:"ipv4"`
	IPv6PerENI          int32  `json:"ipv6,omitempty"`
	IPv6Supported       bool   `json:"ipv6ok,omitempty"`
	NetworkCards        []Card `json:"cards,omitempty"`
	DefaultCard         int32  `json:"defCard,omitempty"`
	MaxEFA              int32  `json:"efa,omitempty"`
	EncryptionInTransit bool   `json:"eit,omitempty"`
	// EBSMbps is the maximum EBS bandwidth when EBS optimisation is on by default (0: not default).
	EBSMbps int32 `json:"ebs,omitempty"`

	// From says where the type's facts come from.
	From Provenance `json:"from"`
}

// Where a group of facts comes from.
const (
	// FromModules: tables of Go modules (github.com/cristim/ec2-instances-info, the AWS provider's
	// own tables and recorded EC2 answers), independent of Karpenter's instance-types reference.
	FromModules = "modules"
	// FromReferenceLabels: the labels of Karpenter's instance-types reference, which state EC2's own
	// facts (vCPUs, memory, architecture, …) as DescribeInstanceTypes reports them.
	FromReferenceLabels = "reference-labels"
	// FromReferenceResults: worked back from an allocatable figure of the reference (e.g. the ENI
	// limits behind its pods), so the comparison with that figure is not independent.
	FromReferenceResults = "reference-results"
)

// Provenance records, per group of facts, one of the From constants.
type Provenance struct {
	// Specs: vCPUs, memory, architectures, processor, instance storage, GPUs and accelerators.
	Specs string `json:"specs"`
	// Network: ENIs, IPv4 addresses per ENI and network cards, behind max pods and kube-reserved memory.
	Network string `json:"net"`
	// EFA: EFA interfaces ("" when the type has none from any source).
	EFA string `json:"efa,omitempty"`
	// HVM is FromReferenceLabels when the module says the type is paravirtual only but the
	// reference documents it, which it does only for HVM types (Karpenter lists no other).
	HVM string `json:"hvm,omitempty"`
}

// Device is a GPU, inference accelerator or Neuron device group.
type Device struct {
	Name         string `json:"n"`
	Manufacturer string `json:"m,omitempty"`
	Count        int32  `json:"c"`
	MemoryMiB    int32  `json:"mem,omitempty"`
	// Cores per device (Neuron only).
	Cores int32 `json:"cores,omitempty"`
}

// Card is one network card.
type Card struct {
	Index   int32 `json:"i"`
	MaxENIs int32 `json:"enis"`
}
