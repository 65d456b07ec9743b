package aws

import (
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// nodeClass reads an EC2NodeClass spec (YAML) and gives it the reference's us-east-1 subnets.
func nodeClass(t *testing.T, spec string) *awsv1.EC2NodeClass {
	t.Helper()
	nc := al2023(t)
	nc.Spec = awsv1.EC2NodeClassSpec{}
	if err := yaml.UnmarshalStrict([]byte(spec), &nc.Spec); err != nil {
		t.Fatal(err)
	}
	return nc
}

// The expected values below follow the provider's code (pkg/providers/instancetype/types.go) for
// m5.large (2 vCPU, 8192 MiB, 3 ENIs × 10 IPv4): memory capacity 8192 − ⌈7.5 %⌉ = 7577Mi, ENI-limited
// pods 3 × 9 + 2 = 29, kube-reserved 70m CPU, 11 × pods + 255 Mi memory and 1Gi storage, eviction
// 100Mi memory and 10 % of the 20Gi root volume.
func TestKubeletAndAMIFamilies(t *testing.T) {
	for _, tc := range []struct {
		name, spec          string
		cpu, mem, pods, eph string
	}{
		{"kubelet maxPods 110 (AL2023 keeps the ENI-limited kube-reserved memory)",
			"amiSelectorTerms: [{alias: al2023@latest}]\nkubelet: {maxPods: 110}", "1930m", "6903Mi", "110", "17Gi"},
		{"custom kubeReserved",
			"amiSelectorTerms: [{alias: al2023@latest}]\nkubelet: {kubeReserved: {cpu: 200m, memory: 1Gi}}", "1800m", "6453Mi", "29", "17Gi"},
		{"Bottlerocket (kube-reserved memory from the pods value)",
			"amiSelectorTerms: [{alias: bottlerocket@latest}]\nkubelet: {maxPods: 110}", "1930m", "6012Mi", "110", "17Gi"},
		{"Bottlerocket defaults",
			"amiSelectorTerms: [{alias: bottlerocket@latest}]", "1930m", "6903Mi", "29", "17Gi"},
		{"podsPerCore (AL2023: min(4 × 2 vCPU, 29))",
			"amiSelectorTerms: [{alias: al2023@latest}]\nkubelet: {podsPerCore: 4}", "1930m", "6903Mi", "8", "17Gi"},
		{"systemReserved and evictionHard",
			"amiSelectorTerms: [{alias: al2023@latest}]\nkubelet: {systemReserved: {cpu: 100m, memory: 200Mi}, evictionHard: {memory.available: 500Mi, nodefs.available: 15%}}",
			"1830m", "6303Mi", "29", "16Gi"},
		{"root volume from blockDeviceMappings",
			"amiSelectorTerms: [{alias: al2023@latest}]\nblockDeviceMappings: [{deviceName: /dev/xvda, rootVolume: true, ebs: {volumeSize: 100Gi}}]", "1930m", "6903Mi", "29", "89Gi"},
		{"RAID0 on a type without instance store keeps the root volume",
			"amiSelectorTerms: [{alias: al2023@latest}]\ninstanceStorePolicy: RAID0", "1930m", "6903Mi", "29", "17Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			its, _ := instanceTypes(t, nodeClass(t, tc.spec), "us-east-1")
			it := its["m5.large"]
			a := allocatable(it)
			wantQuantity(t, it, a, corev1.ResourceCPU, tc.cpu)
			wantQuantity(t, it, a, corev1.ResourceMemory, tc.mem)
			wantQuantity(t, it, a, corev1.ResourcePods, tc.pods)
			wantQuantity(t, it, a, corev1.ResourceEphemeralStorage, tc.eph)
		})
	}
}

// RAID0: ephemeral storage is the instance store (m5d.large: 75 GB NVMe), less 1Gi kube-reserved and
// a 10 % eviction threshold.
func TestRAID0InstanceStore(t *testing.T) {
	its, _ := instanceTypes(t, nodeClass(t, "amiSelectorTerms: [{alias: al2023@latest}]\ninstanceStorePolicy: RAID0"), "us-east-1")
	it := its["m5d.large"]
	wantQuantity(t, it, it.Capacity, corev1.ResourceEphemeralStorage, "75G")
	wantQuantity(t, it, allocatable(it), corev1.ResourceEphemeralStorage, "66426258176")
	if got := it.Requirements.Get(awsv1.LabelInstanceLocalNVME).Values(); len(got) != 1 || got[0] != "75" {
		t.Errorf("m5d.large local-nvme label = %v, want 75", got)
	}
}

// The provider never calls the environment's VM_MEMORY_OVERHEAD_PERCENT or RESERVED_ENIS here.
func TestOptionsIgnoreEnvironment(t *testing.T) {
	t.Setenv("VM_MEMORY_OVERHEAD_PERCENT", "0.5")
	t.Setenv("RESERVED_ENIS", "2")
	its, _ := instanceTypes(t, al2023(t), "us-east-1")
	it := its["m5.large"]
	wantQuantity(t, it, allocatable(it), corev1.ResourceMemory, "6903Mi")
	wantQuantity(t, it, allocatable(it), corev1.ResourcePods, "29")
}

func TestGPUs(t *testing.T) {
	its, _ := instanceTypes(t, al2023(t), "us-east-1")
	for name, want := range map[string]struct {
		res   corev1.ResourceName
		count string
		label string
	}{
		"p3.2xlarge":  {"nvidia.com/gpu", "1", "v100"},
		"g4dn.xlarge": {"nvidia.com/gpu", "1", "t4"},
		"g4ad.xlarge": {"amd.com/gpu", "1", "radeon-pro-v520"},
	} {
		it := its[name]
		if it == nil {
			t.Errorf("%s missing", name)
			continue
		}
		wantQuantity(t, it, it.Capacity, want.res, want.count)
		if got := it.Requirements.Get(awsv1.LabelInstanceGPUName).Values(); len(got) != 1 || got[0] != want.label {
			t.Errorf("%s gpu-name = %v, want %s", name, got, want.label)
		}
	}
}

func TestNeuronFromData(t *testing.T) {
	its, _ := instanceTypes(t, al2023(t), "us-east-1")
	it := its["inf2.xlarge"]
	wantQuantity(t, it, it.Capacity, "aws.amazon.com/neuron", "1")
	// Cores per Inferentia2 device: EC2's answer recorded in the provider module (pkg/fake).
	wantQuantity(t, it, it.Capacity, "aws.amazon.com/neuroncore", "2")
	if got := it.Requirements.Get(awsv1.LabelInstanceAcceleratorName).Values(); len(got) != 1 || got[0] != "inferentia2" {
		t.Errorf("inf2.xlarge accelerator-name = %v, want inferentia2", got)
	}
}

// Facts the generated data lacks (EFA interfaces, Neuron cores) still go through the provider's code
// when EC2 reports them: these are EC2's own answers for p5.48xlarge and trn1.2xlarge (the provider
// module's pkg/fake/zz_generated.describe_instance_types.go).
func TestEFAAndNeuronCores(t *testing.T) {
	f := &ec2data.File{
		Types: []ec2data.Type{
			{Name: "p5.48xlarge", Architectures: []string{"x86_64"}, VCPUs: 192, MemoryMiB: 2097152, CPUManufacturer: "AMD",
				Hypervisor: "nitro", UsageClasses: []string{"on-demand", "spot"}, Virtualization: []string{"hvm"},
				GPUs:    []ec2data.Device{{Name: "H100", Manufacturer: "NVIDIA", Count: 8, MemoryMiB: 81920}},
				MaxENIs: 64, IPv4PerENI: 50, MaxEFA: 32, StorageGB: 30400, StorageNVMe: "required",
				NetworkCards: cards(32, 2)},
			{Name: "trn1.2xlarge", Architectures: []string{"x86_64"}, VCPUs: 8, MemoryMiB: 32768, CPUManufacturer: "Intel",
				Hypervisor: "nitro", UsageClasses: []string{"on-demand", "spot"}, Virtualization: []string{"hvm"},
				Neuron:  []ec2data.Device{{Name: "Trainium", Manufacturer: "AWS", Count: 1, Cores: 2, MemoryMiB: 32768}},
				MaxENIs: 4, IPv4PerENI: 15, NetworkCards: cards(1, 4)},
		},
		Regions: map[string]ec2data.Region{"us-east-1": {ZoneIDs: []string{"use1-az1"}, OnDemand: []float64{98.32, 1.34}}},
	}
	its, _, err := instanceTypesFrom(testContext(), f, al2023(t), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	p5, trn1 := its[0], its[1]
	wantQuantity(t, p5, p5.Capacity, "vpc.amazonaws.com/efa", "32")
	wantQuantity(t, p5, p5.Capacity, "nvidia.com/gpu", "8")
	wantQuantity(t, p5, p5.Capacity, corev1.ResourcePods, "100") // the default card's 2 ENIs × 49 + 2
	wantQuantity(t, trn1, trn1.Capacity, "aws.amazon.com/neuron", "1")
	wantQuantity(t, trn1, trn1.Capacity, "aws.amazon.com/neuroncore", "2")
}

func cards(n int, enis int32) []ec2data.Card {
	out := make([]ec2data.Card, n)
	for i := range out {
		out[i] = ec2data.Card{Index: int32(i), MaxENIs: enis}
	}
	return out
}

func onDemand(t *testing.T, it *cloudprovider.InstanceType) float64 {
	t.Helper()
	for _, o := range it.Offerings.Available() {
		if o.CapacityType() == karpv1.CapacityTypeOnDemand {
			return o.Price
		}
	}
	t.Fatalf("%s has no available on-demand offering", it.Name)
	return 0
}

func TestRegionPrices(t *testing.T) {
	f, err := load()
	if err != nil {
		t.Fatal(err)
	}
	idx := -1
	for i, ty := range f.Types {
		if ty.Name == "m5.large" {
			idx = i
		}
	}
	prices := map[string]float64{}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		nc := al2023(t)
		nc.Status.Subnets = nil
		zones, err := Zones(region)
		if err != nil {
			t.Fatal(err)
		}
		for _, z := range zones[:2] {
			nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z.Name, Zone: z.Name, ZoneID: z.ID})
		}
		its, _ := instanceTypes(t, nc, region)
		it := its["m5.large"]
		prices[region] = onDemand(t, it)
		if want := f.Regions[region].OnDemand[idx]; prices[region] != want {
			t.Errorf("%s m5.large on-demand = %v, want the generated %v", region, prices[region], want)
		}
		// Offerings are available in the NodeClass's zones only, each with its zone ID.
		for _, o := range it.Offerings.Available() {
			if z := o.Zone(); z != zones[0].Name && z != zones[1].Name {
				t.Errorf("%s: available offering in %s, outside the NodeClass's subnets", region, z)
			}
			if id := o.Requirements.Get(awsv1.LabelTopologyZoneID).Any(); id == "" {
				t.Errorf("%s: offering in %s has no zone ID", region, o.Zone())
			}
		}
		if got := it.Requirements.Get(corev1.LabelTopologyRegion).Any(); got != region {
			t.Errorf("region label = %q, want %q", got, region)
		}
	}
	if prices["us-east-1"] == prices["eu-west-1"] {
		t.Errorf("m5.large costs %v in both us-east-1 and eu-west-1", prices["us-east-1"])
	}
}

func TestSpotIsEstimated(t *testing.T) {
	its, _ := instanceTypes(t, al2023(t), "us-east-1")
	spot := 0
	for _, o := range its["m5.large"].Offerings.Available() {
		if o.CapacityType() == karpv1.CapacityTypeSpot {
			spot++
			if !PriceEstimated(o) {
				t.Errorf("spot offering in %s not marked estimated", o.Zone())
			}
		} else if PriceEstimated(o) {
			t.Errorf("%s offering marked estimated", o.CapacityType())
		}
	}
	if spot == 0 {
		t.Fatal("m5.large has no spot offering")
	}
	if info := DataInfo(); !info.SpotEstimated || info.SpotSource == "" || info.Generated.IsZero() || len(info.Sources) == 0 {
		t.Errorf("DataInfo = %+v", info)
	}
}

func TestNoSubnetsEveryZone(t *testing.T) {
	nc := al2023(t)
	nc.Status.Subnets = nil
	its, warnings := instanceTypes(t, nc, "eu-west-1")
	zones, _ := Zones("eu-west-1")
	got := its["m5.large"].Requirements.Get(corev1.LabelTopologyZone)
	for _, z := range zones {
		if !got.Has(z.Name) {
			t.Errorf("m5.large zones %v lack %s", got.Values(), z.Name)
		}
	}
	if len(warnings) == 0 || !strings.Contains(warnings[0], "no subnets") || !strings.Contains(warnings[0], "eu-west-1a") {
		t.Errorf("warnings = %q, want one about the missing subnets naming the zones", warnings)
	}
	if nc.Status.Subnets != nil {
		t.Error("InstanceTypes changed the caller's EC2NodeClass")
	}
}

func TestReservedOfferingFromStatus(t *testing.T) {
	nc := al2023(t)
	nc.Status.CapacityReservations = []awsv1.CapacityReservation{{
		ID: "cr-0123", InstanceType: "m5.large", AvailabilityZone: nc.Status.Subnets[0].Zone,
		ReservationType: awsv1.CapacityReservationTypeDefault, State: awsv1.CapacityReservationStateActive,
	}}
	its, warnings := instanceTypes(t, nc, "us-east-1")
	var reserved []*cloudprovider.Offering
	for _, o := range its["m5.large"].Offerings {
		if o.CapacityType() == karpv1.CapacityTypeReserved {
			reserved = append(reserved, o)
		}
	}
	if len(reserved) != 1 || reserved[0].ReservationID() != "cr-0123" {
		t.Fatalf("reserved offerings = %v, want one for cr-0123", reserved)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "capacity reservations") {
		t.Errorf("warnings = %q, want one about the reservations' unknown counts", warnings)
	}
	if its["m5.xlarge"] != nil {
		for _, o := range its["m5.xlarge"].Offerings {
			if o.CapacityType() == karpv1.CapacityTypeReserved {
				t.Error("m5.xlarge got a reserved offering for an m5.large reservation")
			}
		}
	}
}

// A region whose zones the data does not know (an opt-in region) is planned in the zones of the
// EC2NodeClass's status; without a status it is an error that says what to give.
func TestRegionWithoutKnownZones(t *testing.T) {
	region := "af-south-1"
	if zones, err := Zones(region); err != nil || len(zones) != 0 {
		t.Skipf("the data knows zones of %s now (%v, %v)", region, zones, err)
	}
	nc := al2023(t)
	nc.Status.Subnets = []awsv1.Subnet{{ID: "subnet-a", Zone: region + "a", ZoneID: "afs1-az1"}, {ID: "subnet-b", Zone: region + "b", ZoneID: "afs1-az2"}}
	its, _ := instanceTypes(t, nc, region)
	it := its["m5.large"]
	if it == nil || len(it.Offerings.Available()) != 4 {
		t.Fatalf("m5.large in %s: %v, want on-demand and spot offerings in both zones", region, it)
	}
	nc.Status.Subnets = nil
	if _, _, err := InstanceTypes(testContext(), nc, region); err == nil || !strings.Contains(err.Error(), "status") {
		t.Errorf("err = %v, want one asking for the EC2NodeClass's status", err)
	}
}
