package main

import (
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/aws/karpenter-provider-aws/pkg/providers/pricing"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

// referenceFile is the reference's name beside the repository (../shared/data/ of its root).
const referenceFile = "karpenter-instance-types-v1.14.md"

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

// referencePath finds the reference: the -reference flag, else $KARPCTL_INSTANCE_TYPES_REFERENCE,
// else ../shared/data/karpenter-instance-types-v1.14.md beside the repository's root.
func referencePath(flagValue string) (string, error) {
	p := flagValue
	if p == "" {
		p = os.Getenv("KARPCTL_INSTANCE_TYPES_REFERENCE")
	}
	if p == "" {
		b, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			return "", fmt.Errorf("go env GOMOD: %w", err)
		}
		root := filepath.Dir(strings.TrimSpace(string(b)))
		p = filepath.Join(filepath.Dir(root), "shared", "data", referenceFile)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("needs Karpenter's instance-types reference (website/content/en/v1.14/reference/instance-types.md of aws/karpenter-provider-aws): %w; give it with -reference or $KARPCTL_INSTANCE_TYPES_REFERENCE", err)
	}
	return p, nil
}

// fillFromReference adds every documented type no Go module describes, built from the reference's
// labels (EC2's facts) and the provider's network table, and fills in the module-described types
// the facts the modules lack. It returns how many types it added.
func fillFromReference(f *ec2data.File, ref map[string]*reference.Type) int {
	index := map[string]int{}
	for i, t := range f.Types {
		index[t.Name] = i
	}
	var added []ec2data.Type
	for name, r := range ref {
		if i, ok := index[name]; ok {
			fillLacking(&f.Types[i], r)
			continue
		}
		t := convert(cristim{InstanceType: name, LinuxVirtualizationTypes: []string{"HVM"}})
		t.UsageClasses = []string{"on-demand", "spot"}
		t.From = ec2data.Provenance{Specs: ec2data.FromReferenceLabels, Network: ec2data.FromModules}
		fromLabels(&t, r)
		if _, ok := instancetype.Limits[name]; !ok {
			if err := networkFromPods(&t, r); err != nil {
				log.Fatalf("%s: %v", name, err)
			}
		}
		added = append(added, t)
	}
	if len(added) > 0 {
		insert(f, added)
	}
	return len(added)
}

// insert adds types to f keeping Types sorted and the regions' per-type columns aligned; the new
// types get the provider's us-east-1 price where it has one.
func insert(f *ec2data.File, added []ec2data.Type) {
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
}

// fillLacking gives a module-described type the facts no module has: encryption in transit, EFA
// interfaces, Neuron cores per device and the sustained clock where these are missing, and HVM
// support to the old types the module calls paravirtual only (the reference documents HVM types only).
func fillLacking(t *ec2data.Type, r *reference.Type) {
	l := r.Labels
	if !slices.Contains(t.Virtualization, "hvm") {
		t.Virtualization = append([]string{"hvm"}, t.Virtualization...)
		t.From.HVM = ec2data.FromReferenceLabels
	}
	if l[lEIT] == "true" {
		t.EncryptionInTransit = true
	}
	if v, ok := atoi(l[lClock]); ok && t.ClockGHz == 0 {
		t.ClockGHz = float64(v) / 1000
	}
	if v, ok := atoi(r.Resources["vpc.amazonaws.com/efa"]); ok && t.MaxEFA == 0 {
		t.MaxEFA, t.From.EFA = int32(v), ec2data.FromReferenceResults
	}
	if len(t.Neuron) == 1 && t.Neuron[0].Cores == 0 {
		if devices, ok := atoi(r.Resources["aws.amazon.com/neuron"]); ok && devices > 0 {
			cores, _ := atoi(r.Resources["aws.amazon.com/neuroncore"])
			t.Neuron[0].Cores = int32(cores / devices)
		}
	}
}

// fromLabels sets a type's facts from the reference's labels (and, for EFA and Neuron cores,
// which no label states, from its resources).
func fromLabels(t *ec2data.Type, r *reference.Type) {
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
	if v, ok := atoi(res["vpc.amazonaws.com/efa"]); ok {
		t.MaxEFA, t.From.EFA = int32(v), ec2data.FromReferenceResults
	}
}

// ipv4PerENI are the IPv4 addresses per ENI EC2 gives its types, most first.
var ipv4PerENI = []int64{50, 30, 15, 10, 6, 4, 3, 2}

// networkFromPods works the ENI limits of a type that no module's network table has back from the
// reference's pods (ENIs × (IPv4 per ENI − 1) + 2, the provider's ENILimitedPods): the largest
// per-ENI count EC2 uses that divides it. Max pods and kube-reserved memory depend on the product
// only, so any such split gives the provider the same figures; the type records that its network
// facts come from the reference's results.
func networkFromPods(t *ec2data.Type, r *reference.Type) error {
	pods, ok := atoi(r.Resources["pods"])
	if !ok || pods < 3 {
		return fmt.Errorf("no ENI limits in any module and no pods in the reference to work them from")
	}
	for _, ips := range ipv4PerENI {
		if (pods-2)%(ips-1) == 0 {
			t.MaxENIs, t.IPv4PerENI = int32((pods-2)/(ips-1)), int32(ips)
			t.NetworkCards = []ec2data.Card{{Index: 0, MaxENIs: t.MaxENIs}}
			t.DefaultCard = 0
			t.From.Network = ec2data.FromReferenceResults
			return nil
		}
	}
	return fmt.Errorf("pods %d is no ENIs × (IPv4 per ENI − 1) + 2", pods)
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
