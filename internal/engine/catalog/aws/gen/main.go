// Command gen writes zz_generated.ec2.json.gz, the EC2 facts of package aws, from Go modules only:
//
//   - github.com/cristim/ec2-instances-info (data/instances.json): vCPUs, memory, architectures,
//     processor, GPUs, instance storage, EBS bandwidth, zone IDs per region, and per region the
//     Linux on-demand price and the average of the spot prices it recorded (the spot estimate);
//   - github.com/aws/karpenter-provider-aws (the module karpctl imports): its ENI/IP limits,
//     network cards, hypervisor and bare-metal table (instancetype.Limits) and its us-east-1
//     on-demand prices (pricing.InitialOnDemandPricesAWS), both newer than the former and
//     preferred where they have an entry.
//
// Run it with `go generate ./internal/engine/catalog/aws`. It locates the modules with
// `go mod download -json MODULE@VERSION` (through the Go module proxy, or the module cache).
// Karpenter's published instance-types reference (read from -reference, $KARPCTL_INSTANCE_TYPES_REFERENCE
// or ../shared/data/ beside the repository; required) supplies the types no module describes: their
// labels are EC2's facts (vCPUs, memory, architecture, accelerators, …), from which the provider's
// code computes allocatable resources as for every other type; the ENI limits of the few types no
// module's network table has are worked back from its pods. Each type records where its facts come
// from (ec2data.Provenance). Types the reference lacks keep the modules' facts.
//
// The output is reproducible: when the data is unchanged its date is kept and the bytes are the same.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/karpenter-provider-aws/pkg/providers/instancetype"
	"github.com/aws/karpenter-provider-aws/pkg/providers/pricing"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

const (
	cristimModule  = "github.com/cristim/ec2-instances-info"
	cristimVersion = "v0.0.0-20250528091325-32acf84f42eb"
	providerModule = "github.com/aws/karpenter-provider-aws"
)

func main() {
	out := flag.String("out", "zz_generated.ec2.json.gz", "output file (gzip-compressed JSON)")
	goOut := flag.String("go", "zz_generated.ec2.go", "output Go file stating date and sources")
	refFlag := flag.String("reference", "", "Karpenter's instance-types reference (markdown); default $KARPCTL_INSTANCE_TYPES_REFERENCE, else ../shared/data/"+referenceFile+" beside the repository")
	flag.Parse()
	log.SetFlags(0)

	refPath, err := referencePath(*refFlag)
	if err != nil {
		log.Fatalf("error: %v", err)
	}
	ref, err := reference.Read(refPath)
	if err != nil {
		log.Fatalf("error: %v", err)
	}
	dir := moduleDir(cristimModule + "@" + cristimVersion)
	var src []cristim
	b, err := os.ReadFile(filepath.Join(dir, "data", "instances.json"))
	if err != nil {
		log.Fatal(err)
	}
	if err := json.Unmarshal(b, &src); err != nil {
		log.Fatalf("%s data/instances.json: %v", cristimModule, err)
	}
	providerVersion := moduleVersion(providerModule)
	usEast1Date := pricesDate(moduleDir(providerModule + "@" + providerVersion))
	f := build(src)
	fake := readFake(moduleDir(providerModule + "@" + providerVersion))
	applyFake(f, fake)
	added := fillFromReference(f, ref)
	estimateOnDemand(f)
	derived := 0
	for _, t := range f.Types {
		if t.From.Network == ec2data.FromReferenceResults {
			derived++
		}
	}
	f.Sources = []string{
		fmt.Sprintf("%s@%s data/instances.json (%s): specs, zone IDs, on-demand prices of every region but us-east-1, spot estimates", cristimModule, cristimVersion, pseudoDate(cristimVersion)),
		fmt.Sprintf("%s@%s pkg/providers/instancetype/zz_generated.vpclimits.go: ENI/IP limits, network cards, hypervisor, bare metal", providerModule, providerVersion),
		fmt.Sprintf("%s@%s pkg/providers/pricing/zz_generated.pricing_aws.go (%s): us-east-1 on-demand prices", providerModule, providerVersion, usEast1Date),
		fmt.Sprintf("%s@%s %s: EC2's answers for %d types (EFA, encryption in transit, clock, GPU name and memory, Neuron cores per device)", providerModule, providerVersion, fakeFile, len(fake)),
		fmt.Sprintf("Karpenter's instance-types reference (%s, %d types): the labels (EC2's facts) of the %d types no module describes, encryption in transit, EFA interfaces and Neuron cores; the ENI limits of %d types no module's network table has, worked back from its pods", filepath.Base(refPath), len(ref), added, derived),
	}
	f.SpotSource = fmt.Sprintf("estimate: the average of the spot prices %s recorded for the region (%s); Karpenter itself reads live spot prices per zone", cristimModule, pseudoDate(cristimVersion))
	f.OnDemandEstimate = onDemandEstimate
	f.Generated = generatedAt(*out, f)
	write(*out, f)
	writeGo(*goOut, *out, f, pricesOf{usEast1: usEast1Date, others: pseudoDate(cristimVersion)})
	log.Printf("wrote %s: %d instance types (%d from the reference, %d with ENI limits worked back from its pods), %d regions, generated %s",
		*out, len(f.Types), added, derived, len(f.Regions), f.Generated.Format(time.RFC3339))
}

// generatedAt keeps the date of the existing output when the data is otherwise the same (so that
// rerunning the generator on unchanged inputs rewrites the same bytes), else it is now.
func generatedAt(path string, f *ec2data.File) time.Time {
	now := time.Now().UTC().Truncate(time.Second)
	gz, err := os.ReadFile(path)
	if err != nil {
		return now
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return now
	}
	old := &ec2data.File{}
	if err := json.NewDecoder(zr).Decode(old); err != nil {
		return now
	}
	f.Generated = old.Generated
	a, errA := json.Marshal(old)
	b, errB := json.Marshal(f)
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		return now
	}
	return old.Generated
}

// moduleDir downloads (or finds in the module cache) a module version and returns its directory.
func moduleDir(modVersion string) string {
	cmd := exec.Command("go", "mod", "download", "-json", modVersion)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		log.Fatalf("go mod download %s: %v", modVersion, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(b, &m); err != nil || m.Dir == "" {
		log.Fatalf("go mod download %s: %v %s", modVersion, err, m.Error)
	}
	return m.Dir
}

func moduleVersion(path string) string {
	b, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", path).Output()
	if err != nil {
		log.Fatalf("go list -m %s: %v", path, err)
	}
	return strings.TrimSpace(string(b))
}

// pricesOf dates the on-demand prices: us-east-1's (the provider's table) and every other region's
// (with the spot estimates).
type pricesOf struct{ usEast1, others string }

// pricesDate is the date the provider's us-east-1 price table was generated, from its header.
func pricesDate(providerDir string) string {
	b, err := os.ReadFile(filepath.Join(providerDir, "pkg", "providers", "pricing", "zz_generated.pricing_aws.go"))
	if err != nil {
		log.Fatal(err)
	}
	m := regexp.MustCompile(`// generated at (\d{4}-\d{2}-\d{2})T\S+ for us-east-1`).FindSubmatch(b)
	if m == nil {
		log.Fatalf("%s: no \"generated at … for us-east-1\" line in its pricing table", providerModule)
	}
	return string(m[1])
}

// pseudoDate turns a pseudo-version's timestamp into a date.
func pseudoDate(v string) string {
	parts := strings.Split(v, "-")
	if len(parts) == 3 && len(parts[1]) == 14 {
		if t, err := time.Parse("20060102150405", parts[1]); err == nil {
			return t.Format("2006-01-02")
		}
	}
	return v
}

func write(path string, f *ec2data.File) {
	b, err := json.Marshal(f)
	if err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.ModTime = f.Generated
	if _, err := zw.Write(b); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// build converts the sources into the data file (without date and sources).
func build(src []cristim) *ec2data.File {
	sort.Slice(src, func(i, j int) bool { return src[i].InstanceType < src[j].InstanceType })
	f := &ec2data.File{Regions: map[string]ec2data.Region{}}
	// A type without ENI limits in either source cannot be modelled: the provider's max pods and
	// kube-reserved memory are computed from them.
	kept := src[:0]
	var dropped []string
	for _, c := range src {
		t := convert(c)
		t.From = ec2data.Provenance{Specs: ec2data.FromModules, Network: ec2data.FromModules}
		if t.MaxENIs == 0 || t.IPv4PerENI == 0 {
			dropped = append(dropped, c.InstanceType)
			continue
		}
		kept = append(kept, c)
		f.Types = append(f.Types, t)
	}
	src = kept
	if len(dropped) > 0 {
		log.Printf("left out %d types without ENI limits in either source: %s", len(dropped), strings.Join(dropped, " "))
	}
	regions := map[string]bool{}
	for _, c := range src {
		for r := range c.Pricing {
			if commercial(r) {
				regions[r] = true
			}
		}
	}
	regions["us-east-1"] = true
	for r := range regions {
		f.Regions[r] = region(r, src)
	}
	return f
}

// commercial tells a commercial region (af-south-1) from GovCloud, China and Local Zone keys.
func commercial(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) != 3 || parts[0] == "cn" || parts[1] == "gov" || parts[1] == "iso" || parts[1] == "isob" {
		return false
	}
	_, err := strconv.Atoi(parts[2])
	return err == nil
}

func region(name string, src []cristim) ec2data.Region {
	r := ec2data.Region{OnDemand: make([]float64, len(src)), Spot: make([]float64, len(src)), Offered: make([]uint64, len(src))}
	zones := map[string]bool{}
	for _, c := range src {
		for _, id := range c.AvailabilityZones[name] {
			zones[id] = true
		}
	}
	for z := range zones {
		r.ZoneIDs = append(r.ZoneIDs, z)
	}
	sort.Strings(r.ZoneIDs)
	if len(r.ZoneIDs) > 64 {
		log.Fatalf("region %s has %d zones, more than the 64 a zone set holds", name, len(r.ZoneIDs))
	}
	bit := map[string]uint64{}
	for i, id := range r.ZoneIDs {
		bit[id] = 1 << i
	}
	providerPrices := pricing.InitialOnDemandPricesAWS[name]
	anyOffered := false
	for i, c := range src {
		p := c.Pricing[name].Linux
		r.OnDemand[i] = parsePrice(p.OnDemand)
		if v, ok := providerPrices[ec2typesName(c.InstanceType)]; ok {
			r.OnDemand[i] = v
		}
		r.Spot[i] = parsePrice(p.SpotAvg)
		for _, id := range c.AvailabilityZones[name] {
			r.Offered[i] |= bit[id]
			anyOffered = true
		}
	}
	if !anyOffered {
		r.Offered = nil
	}
	return r
}

func parsePrice(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// convert turns one cristim record into EC2's terms, with the provider's network limits where it has them.
func convert(c cristim) ec2data.Type {
	t := ec2data.Type{
		Name:            c.InstanceType,
		Architectures:   c.Arch,
		VCPUs:           c.VCPU,
		MemoryMiB:       int64(c.Memory*1024 + 0.5),
		CPUManufacturer: manufacturer(c.PhysicalProcessor),
		ClockGHz:        clock(c.ClockSpeedGHz),
		UsageClasses:    []string{"on-demand"},
		MaxENIs:         c.VPC.MaxENIs,
		IPv4PerENI:      c.VPC.IPsPerENI,
		IPv6Supported:   c.IPv6Support,
		BareMetal:       strings.HasSuffix(c.InstanceType, ".metal") || strings.Contains(c.InstanceType, ".metal-"),
	}
	// EC2 names paravirtual "paravirtual"; the source leaves the column empty for the (HVM-only)
	// Nitro-era types.
	for _, v := range c.LinuxVirtualizationTypes {
		t.Virtualization = append(t.Virtualization, map[string]string{"hvm": "hvm", "pv": "paravirtual"}[strings.ToLower(v)])
	}
	if len(t.Virtualization) == 0 {
		t.Virtualization = []string{"hvm"}
	}
	for _, p := range c.Pricing {
		if p.Linux.SpotAvg != "" || len(p.Linux.Spot) > 0 {
			t.UsageClasses = append(t.UsageClasses, "spot")
			break
		}
	}
	if c.Storage != nil && c.Storage.Devices > 0 {
		t.StorageGB = int64(c.Storage.Devices) * int64(c.Storage.Size)
		if strings.EqualFold(c.Storage.SizeUnit, "TB") {
			t.StorageGB *= 1000
		}
		t.StorageNVMe = "unsupported"
		if c.Storage.NVMeSSD {
			t.StorageNVMe = "required"
		}
	}
	if c.EBSOptimized && c.EBSMaxBandwidth > 0 {
		t.EBSMbps = int32(c.EBSMaxBandwidth)
	}
	accelerators(&t, c)
	if l, ok := instancetype.Limits[c.InstanceType]; ok {
		t.MaxENIs = int32(l.Interface)
		t.IPv4PerENI = int32(l.IPv4PerInterface)
		t.Hypervisor = l.Hypervisor
		t.BareMetal = l.IsBareMetal
		t.DefaultCard = int32(l.DefaultNetworkCardIndex)
		for _, card := range l.NetworkCards {
			t.NetworkCards = append(t.NetworkCards, ec2data.Card{Index: int32(card.NetworkCardIndex), MaxENIs: int32(card.MaximumNetworkInterfaces)})
		}
	}
	if len(t.NetworkCards) == 0 {
		t.NetworkCards = []ec2data.Card{{Index: 0, MaxENIs: t.MaxENIs}}
	}
	return t
}

// accelerators splits cristim's GPU columns into EC2's GPU and Neuron device infos.
func accelerators(t *ec2data.Type, c cristim) {
	if c.GPU <= 0 || c.GPUModel == "" {
		return
	}
	model := strings.TrimSpace(c.GPUModel)
	if strings.HasPrefix(model, "AWS ") {
		// Neuron devices; cristim names trn1's devices Inferentia, EC2 names them by family.
		name := strings.TrimPrefix(model, "AWS ")
		family := strings.SplitN(c.InstanceType, ".", 2)[0]
		switch {
		case strings.HasPrefix(family, "trn2"):
			name = "Trainium2"
		case strings.HasPrefix(family, "trn"):
			name = "Trainium"
		}
		t.Neuron = []ec2data.Device{{Name: name, Manufacturer: "AWS", Count: c.GPU, MemoryMiB: int32(c.GPUMemory * 1024 / float64(c.GPU))}}
		return
	}
	mfr, name := "", model
	for _, m := range []string{"NVIDIA", "AMD", "Habana", "Xilinx"} {
		if strings.HasPrefix(model, m+" ") {
			mfr, name = m, strings.TrimPrefix(model, m+" ")
		}
	}
	// EC2 names the GPU without the marketing words: "Tesla V100" → V100, "T4 Tensor Core" → T4.
	name = strings.TrimSuffix(strings.TrimPrefix(name, "Tesla "), " Tensor Core")
	t.GPUs = []ec2data.Device{{Name: name, Manufacturer: mfr, Count: c.GPU, MemoryMiB: int32(c.GPUMemory * 1024 / float64(c.GPU))}}
}

func manufacturer(processor string) string {
	switch p := strings.ToLower(processor); {
	case strings.Contains(p, "intel"):
		return "Intel"
	case strings.Contains(p, "amd"):
		return "AMD"
	case strings.Contains(p, "graviton"), strings.HasPrefix(p, "aws"):
		return "AWS"
	case strings.Contains(p, "apple"):
		return "Apple"
	}
	return ""
}

// clock reads "3.1 GHz" or "Up to 3.5 GHz".
func clock(s string) float64 {
	for _, f := range strings.Fields(s) {
		if v, err := strconv.ParseFloat(f, 64); err == nil {
			return v
		}
	}
	return 0
}

// writeGo writes the Go file that dates the data and names its sources (read without decoding the data).
func writeGo(path, dataFile string, f *ec2data.File, prices pricesOf) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by ./gen (go generate ./internal/engine/catalog/aws); DO NOT EDIT.\n")
	fmt.Fprintf(&b, "//\n// %s: %d EC2 instance types, %d commercial regions, generated %s from:\n", dataFile, len(f.Types), len(f.Regions), f.Generated.Format(time.RFC3339))
	for _, s := range f.Sources {
		fmt.Fprintf(&b, "//   - %s\n", s)
	}
	fmt.Fprintf(&b, "\npackage aws\n\nimport \"time\"\n\n")
	fmt.Fprintf(&b, "var generatedAt = time.Date(%d, %d, %d, %d, %d, %d, 0, time.UTC)\n\n", f.Generated.Year(), f.Generated.Month(), f.Generated.Day(), f.Generated.Hour(), f.Generated.Minute(), f.Generated.Second())
	fmt.Fprintf(&b, "var generatedSources = []string{\n")
	for _, s := range f.Sources {
		fmt.Fprintf(&b, "\t%q,\n", s)
	}
	fmt.Fprintf(&b, "}\n\nconst spotSource = %q\n", f.SpotSource)
	fmt.Fprintf(&b, "\nconst onDemandEstimate = %q\n", f.OnDemandEstimate)
	fmt.Fprintf(&b, "\n// The dates of the on-demand prices: us-east-1's, and every other region's (and the spot estimates').\n")
	fmt.Fprintf(&b, "const (\n\tusEast1PricesOf = %q\n\tpricesOf = %q\n)\n", prices.usEast1, prices.others)
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatalf("formatting %s: %v", path, err)
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
