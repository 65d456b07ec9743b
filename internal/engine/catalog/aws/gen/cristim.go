package main

import ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

// cristim is one record of github.com/cristim/ec2-instances-info's data/instances.json (the fields used).
type cristim struct {
	InstanceType             string   `json:"instance_type"`
	VCPU                     int32    `json:"vCPU"`
	Memory                   float64  `json:"memory"` // GiB
	Arch                     []string `json:"arch"`
	PhysicalProcessor        string   `json:"physical_processor"`
	ClockSpeedGHz            string   `json:"clock_speed_ghz"`
	GPU                      int32    `json:"GPU"`
	GPUModel                 string   `json:"GPU_model"`
	GPUMemory                float64  `json:"GPU_memory"` // GiB, all GPUs
	LinuxVirtualizationTypes []string `json:"linux_virtualization_types"`
	IPv6Support              bool     `json:"ipv6_support"`
	EBSOptimized             bool     `json:"ebs_optimized"`
	EBSAsNVMe                bool     `json:"ebs_as_nvme"`
	EBSMaxBandwidth          float64  `json:"ebs_max_bandwidth"`
	Storage                  *struct {
		Devices  int     `json:"devices"`
		Size     float64 `json:"size"`
		SizeUnit string  `json:"size_unit"`
		NVMeSSD  bool    `json:"nvme_ssd"`
	} `json:"storage"`
	VPC struct {
		IPsPerENI int32 `json:"ips_per_eni"`
		MaxENIs   int32 `json:"max_enis"`
	} `json:"vpc"`
	AvailabilityZones map[string][]string `json:"availability_zones"`
	Pricing           map[string]struct {
		Linux struct {
			OnDemand string   `json:"ondemand"`
			SpotAvg  string   `json:"spot_avg"`
			Spot     []string `json:"spot"`
		} `json:"linux"`
	} `json:"pricing"`
}

func ec2typesName(s string) ec2types.InstanceType { return ec2types.InstanceType(s) }
