package main

import (
	"sort"
	"strconv"
	"strings"

	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/aws/karpenter-provider-aws/pkg/providers/pricing"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

// Label keys of the reference.
const (
	lCPU        = "karpenter.k8s.aws/instance-cpu"
	lMemory     = "karpenter.k8s.aws/instance-memory"
	lArch       = "kubernetes.io/arch"
	lMfr        = "karpenter.k8s.aws/instance-cpu-manufacturer"
	lClock      = "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz"
	lEBS        = "karpenter.k8s.aws/instance-ebs-bandwidth"
	lEIT        = "karpenter.k8s.aws/instance-encryption-in-transit-supported"
	lHypervisor = "karpenter.k8s.aws/instance-hypervisor"
	lNVMe       = "karpenter.k8s.aws/instance-local-nvme"
	lGPUName    = "karpenter.k8s.aws/instance-gpu-name"
	lGPUMfr     = "karpenter.k8s.aws/instance-gpu-manufacturer"
	lGPUCount   = "karpenter.k8s.aws/instance-gpu-count"
	lGPUMem     = "karpenter.k8s.aws/instance-gpu-memory"
	lAccName    = "karpenter.k8s.aws/instance-accelerator-name"
	lAccCount   = "karpenter.k8s.aws/instance-accelerator-count"
)

// fillFromReference adds the documented types the modules lack (when the provider's network table
// knows them) and fills facts the modules do not carry (EFA interfaces, encryption in transit,
// Neuron cores, Habana and newer GPUs, sustained clock speeds). It returns how many types it touched.
func fillFromReference(f *ec2data.File, path string) (int, error) {
	ref, err := reference.Read(path)
	if err != nil {
		return 0, err
	}
	index := map[string]int{}
	for i, t := range f.Types {
		index[t.Name] = i
	}
	touched := 0
	var added []ec2data.Type
	for name, r := range ref {
		if i, ok := index[name]; ok {
			if fill(&f.Types[i], r) {
				touched++
			}
			continue
		}
		if _, ok := instancetype.Limits[name]; !ok {
			continue
		}
		t := convert(cristim{InstanceType: name, LinuxVirtualizationTypes: []string{"HVM"}})
		t.UsageClasses = []string{"on-demand", "spot"}
		fill(&t, r)
		added = append(added, t)
		touched++
	}
	if len(added) == 0 {
		return touched, nil
	}
	// Insert keeping Types sorted and the regions' per-type columns aligned.
	all := append(append([]ec2data.Type{}, f.Types...), added...)
	order := make([]int, len(all))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return all[order[a]].Name < all[order[b]].Name })
	types := make([]ec2data.Type, len(all))
	for i, o := range order {
		types[i] = all[o]
	}
	for name, reg := range f.Regions {
		od, spot := make([]float64, len(all)), make([]float64, len(all))
		var offered []uint64
		if reg.Offered != nil {
			offered = make([]uint64, len(all))
		}
		for i, o := range order {
			if o < len(f.Types) {
				od[i], spot[i] = reg.OnDemand[o], reg.Spot[o]
				if offered != nil {
					offered[i] = reg.Offered[o]
				}
			} else if p, ok := providerPrice(name, all[o].Name); ok {
				od[i] = p
			}
		}
		reg.OnDemand, reg.Spot, reg.Offered = od, spot, offered
		f.Regions[name] = reg
	}
	f.Types = types
	return touched, nil
}

// fill copies the reference's facts into t where they differ; it reports whether anything changed.
func fill(t *ec2data.Type, r *reference.Type) bool {
	before := fmtType(*t)
	l := r.Labels
	if v, ok := atoi(l[lCPU]); ok {
		t.VCPUs = int32(v)
	}
	if v, ok := atoi(l[lMemory]); ok {
		t.MemoryMiB = v
	}
	switch l[lArch] {
	case "amd64":
		t.Architectures = []string{"x86_64"}
	case "arm64":
		t.Architectures = []string{"arm64"}
	}
	if v, ok := l[lMfr]; ok {
		t.CPUManufacturer = map[string]string{"intel": "Intel", "amd": "AMD", "aws": "AWS", "apple": "Apple"}[v]
	}
	if v, ok := atoi(l[lClock]); ok {
		t.ClockGHz = float64(v) / 1000
	}
	t.EBSMbps = 0
	if v, ok := atoi(l[lEBS]); ok {
		t.EBSMbps = int32(v)
	}
	t.EncryptionInTransit = l[lEIT] == "true"
	if v, ok := l[lHypervisor]; ok {
		t.Hypervisor = v
	}
	if v, ok := atoi(l[lNVMe]); ok {
		t.StorageGB, t.StorageNVMe = v, "required"
	}
	res := r.Resources
	t.GPUs, t.Neuron = nil, nil
	if n, ok := l[lGPUName]; ok {
		count, _ := atoi(l[lGPUCount])
		mem, _ := atoi(l[lGPUMem])
		t.GPUs = []ec2data.Device{{Name: n, Manufacturer: gpuManufacturer(l[lGPUMfr]), Count: int32(count), MemoryMiB: int32(mem)}}
	} else if v, ok := atoi(res["habana.ai/gaudi"]); ok {
		t.GPUs = []ec2data.Device{{Name: "Gaudi HL-205", Manufacturer: "Habana", Count: int32(v)}}
	}
	if devices, ok := atoi(res["aws.amazon.com/neuron"]); ok && devices > 0 {
		cores, _ := atoi(res["aws.amazon.com/neuroncore"])
		t.Neuron = []ec2data.Device{{Name: l[lAccName], Manufacturer: "AWS", Count: int32(devices), Cores: int32(cores / devices)}}
		if c, ok := atoi(l[lAccCount]); ok {
			t.Neuron[0].Count = int32(c)
		}
	}
	t.MaxEFA = 0
	if v, ok := atoi(res["vpc.amazonaws.com/efa"]); ok {
		t.MaxEFA = int32(v)
	}
	return fmtType(*t) != before
}

func gpuManufacturer(label string) string {
	switch label {
	case "nvidia":
		return "NVIDIA"
	case "amd":
		return "AMD"
	case "habana":
		return "Habana"
	}
	return strings.ToUpper(label)
}

func providerPrice(region, name string) (float64, bool) {
	p, ok := pricing.InitialOnDemandPricesAWS[region][ec2typesName(name)]
	return p, ok
}

func atoi(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func fmtType(t ec2data.Type) string { return strings.TrimSpace(fmtAny(t)) }
