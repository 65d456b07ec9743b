package aws

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// instanceTypeInfos turns the generated facts into what EC2's DescribeInstanceTypes returns.
func instanceTypeInfos(f *ec2data.File) []ec2types.InstanceTypeInfo {
	out := make([]ec2types.InstanceTypeInfo, len(f.Types))
	for i := range f.Types {
		out[i] = instanceTypeInfo(&f.Types[i])
	}
	return out
}

func instanceTypeInfo(t *ec2data.Type) ec2types.InstanceTypeInfo {
	info := ec2types.InstanceTypeInfo{
		InstanceType: ec2types.InstanceType(t.Name),
		VCpuInfo:     &ec2types.VCpuInfo{DefaultVCpus: aws.Int32(t.VCPUs)},
		MemoryInfo:   &ec2types.MemoryInfo{SizeInMiB: aws.Int64(t.MemoryMiB)},
		ProcessorInfo: &ec2types.ProcessorInfo{
			Manufacturer: aws.String(t.CPUManufacturer),
		},
		Hypervisor: ec2types.InstanceTypeHypervisor(t.Hypervisor),
		BareMetal:  aws.Bool(t.BareMetal),
		NetworkInfo: &ec2types.NetworkInfo{
			MaximumNetworkInterfaces:     aws.Int32(t.MaxENIs),
			Ipv4AddressesPerInterface:    aws.Int32(t.IPv4PerENI),
			Ipv6AddressesPerInterface:    aws.Int32(t.IPv6PerENI),
			Ipv6Supported:                aws.Bool(t.IPv6Supported),
			DefaultNetworkCardIndex:      aws.Int32(t.DefaultCard),
			EncryptionInTransitSupported: aws.Bool(t.EncryptionInTransit),
			EfaSupported:                 aws.Bool(t.MaxEFA > 0),
		},
	}
	if t.ClockGHz > 0 {
		info.ProcessorInfo.SustainedClockSpeedInGhz = aws.Float64(t.ClockGHz)
	}
	for _, a := range t.Architectures {
		info.ProcessorInfo.SupportedArchitectures = append(info.ProcessorInfo.SupportedArchitectures, ec2types.ArchitectureType(a))
	}
	for _, u := range t.UsageClasses {
		info.SupportedUsageClasses = append(info.SupportedUsageClasses, ec2types.UsageClassType(u))
	}
	for _, v := range t.Virtualization {
		info.SupportedVirtualizationTypes = append(info.SupportedVirtualizationTypes, ec2types.VirtualizationType(v))
	}
	// The network card at the default index must exist: the provider indexes NetworkCards by it.
	cards := t.NetworkCards
	if len(cards) == 0 {
		cards = []ec2data.Card{{Index: 0, MaxENIs: t.MaxENIs}}
	}
	maxIndex := int32(0)
	for _, c := range cards {
		maxIndex = max(maxIndex, c.Index, t.DefaultCard)
	}
	info.NetworkInfo.NetworkCards = make([]ec2types.NetworkCardInfo, maxIndex+1)
	for i := range info.NetworkInfo.NetworkCards {
		info.NetworkInfo.NetworkCards[i] = ec2types.NetworkCardInfo{NetworkCardIndex: aws.Int32(int32(i)), MaximumNetworkInterfaces: aws.Int32(0)}
	}
	for _, c := range cards {
		info.NetworkInfo.NetworkCards[c.Index].MaximumNetworkInterfaces = aws.Int32(c.MaxENIs)
	}
	info.NetworkInfo.MaximumNetworkCards = aws.Int32(int32(len(cards)))
	if t.MaxEFA > 0 {
		info.NetworkInfo.EfaInfo = &ec2types.EfaInfo{MaximumEfaInterfaces: aws.Int32(t.MaxEFA)}
	}
	if t.EBSMbps > 0 {
		info.EbsInfo = &ec2types.EbsInfo{
			EbsOptimizedSupport: ec2types.EbsOptimizedSupportDefault,
			EbsOptimizedInfo:    &ec2types.EbsOptimizedInfo{MaximumBandwidthInMbps: aws.Int32(t.EBSMbps)},
		}
	} else {
		info.EbsInfo = &ec2types.EbsInfo{EbsOptimizedSupport: ec2types.EbsOptimizedSupportUnsupported}
	}
	if t.StorageGB > 0 {
		info.InstanceStorageSupported = aws.Bool(true)
		info.InstanceStorageInfo = &ec2types.InstanceStorageInfo{
			TotalSizeInGB: aws.Int64(t.StorageGB),
			NvmeSupport:   ec2types.EphemeralNvmeSupport(t.StorageNVMe),
		}
	}
	if len(t.GPUs) > 0 {
		info.GpuInfo = &ec2types.GpuInfo{}
		for _, g := range t.GPUs {
			info.GpuInfo.Gpus = append(info.GpuInfo.Gpus, ec2types.GpuDeviceInfo{
				Name: aws.String(g.Name), Manufacturer: aws.String(g.Manufacturer), Count: aws.Int32(g.Count),
				MemoryInfo: &ec2types.GpuDeviceMemoryInfo{SizeInMiB: aws.Int32(g.MemoryMiB)},
			})
		}
	}
	if len(t.Inference) > 0 {
		info.InferenceAcceleratorInfo = &ec2types.InferenceAcceleratorInfo{}
		for _, a := range t.Inference {
			info.InferenceAcceleratorInfo.Accelerators = append(info.InferenceAcceleratorInfo.Accelerators, ec2types.InferenceDeviceInfo{
				Name: aws.String(a.Name), Manufacturer: aws.String(a.Manufacturer), Count: aws.Int32(a.Count),
			})
		}
	}
	if len(t.Neuron) > 0 {
		info.NeuronInfo = &ec2types.NeuronInfo{}
		for _, n := range t.Neuron {
			info.NeuronInfo.NeuronDevices = append(info.NeuronInfo.NeuronDevices, ec2types.NeuronDeviceInfo{
				Name: aws.String(n.Name), Count: aws.Int32(n.Count),
				CoreInfo:   &ec2types.NeuronDeviceCoreInfo{Count: aws.Int32(n.Cores)},
				MemoryInfo: &ec2types.NeuronDeviceMemoryInfo{SizeInMiB: aws.Int32(n.MemoryMiB)},
			})
		}
	}
	return info
}
