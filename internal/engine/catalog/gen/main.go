// Command gen writes the embedded catalogs of package catalog from the Karpenter module:
//
//	data/kwok.json             kwok/cloudprovider/instance_types.json, compacted (one type a line)
//	data/zz_generated_aws.json kwok/examples/aws_instance_types.json, normalised
//
// Run it with `go generate ./internal/engine/catalog` (needs the Karpenter module in the module cache,
// which any build of karpctl downloads). The AWS normalisation: one entry per instance type (the source
// repeats each type per operating system, and i386/x86_64), architecture x86_64/i386 → amd64, and the
// labels the AWS provider sets: karpenter.k8s.aws/instance-{category,family,generation,size,cpu,memory}
// (memory in MiB). Offerings, prices and resources are copied as they are. Overhead is not in the format;
// the catalog gives every type kwok's 100m CPU / 10Mi kube-reserved, far below what EC2 nodes reserve.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

type instanceType struct {
	Name             string            `json:"name"`
	Offerings        []json.RawMessage `json:"offerings"`
	Architecture     string            `json:"architecture"`
	OperatingSystems []string          `json:"operatingSystems"`
	Resources        map[string]string `json:"resources"`
	Labels           map[string]string `json:"labels,omitempty"`
}

func main() {
	out := flag.String("out", "data", "output directory")
	dir := flag.String("karpenter", "", "sigs.k8s.io/karpenter module directory (default: from go list -m)")
	flag.Parse()
	if *dir == "" {
		b, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/karpenter").Output()
		if err != nil {
			log.Fatalf("locating sigs.k8s.io/karpenter: %v", err)
		}
		*dir = strings.TrimSpace(string(b))
	}
	kwok := read(filepath.Join(*dir, "kwok/cloudprovider/instance_types.json"))
	write(filepath.Join(*out, "kwok.json"), kwok)
	aws, err := normaliseAWS(read(filepath.Join(*dir, "kwok/examples/aws_instance_types.json")))
	if err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*out, "zz_generated_aws.json"), aws)
}

func read(path string) []instanceType {
	b, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	var its []instanceType
	if err := json.Unmarshal(b, &its); err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	return its
}

// write emits one instance type a line, so diffs of regenerated data stay readable.
func write(path string, its []instanceType) {
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, it := range its {
		line, err := json.Marshal(it)
		if err != nil {
			log.Fatal(err)
		}
		b.Write(line)
		if i < len(its)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("wrote %s (%d instance types, %d bytes)\n", path, len(its), b.Len())
}

var categoryRE = regexp.MustCompile(`^([a-z]+)(\d+)`)

func normaliseAWS(in []instanceType) ([]instanceType, error) {
	byName := map[string]*instanceType{}
	for _, it := range in {
		arch := map[string]string{"x86_64": "amd64", "i386": "amd64", "amd64": "amd64", "arm64": "arm64", "aarch64": "arm64"}[it.Architecture]
		if arch == "" {
			return nil, fmt.Errorf("%s: unknown architecture %q", it.Name, it.Architecture)
		}
		prev, ok := byName[it.Name]
		if !ok {
			c := it
			c.Architecture = arch
			c.OperatingSystems = append([]string(nil), it.OperatingSystems...)
			byName[it.Name] = &c
			continue
		}
		if prev.Architecture != arch {
			return nil, fmt.Errorf("%s: architectures %s and %s", it.Name, prev.Architecture, arch)
		}
		prev.OperatingSystems = append(prev.OperatingSystems, it.OperatingSystems...)
	}
	out := make([]instanceType, 0, len(byName))
	for _, it := range byName {
		sort.Strings(it.OperatingSystems)
		it.OperatingSystems = uniq(it.OperatingSystems)
		labels, err := awsLabels(it)
		if err != nil {
			return nil, err
		}
		it.Labels = labels
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func awsLabels(it *instanceType) (map[string]string, error) {
	family, size, ok := strings.Cut(it.Name, ".")
	if !ok {
		return nil, fmt.Errorf("%s: not family.size", it.Name)
	}
	cpu, err := resource.ParseQuantity(it.Resources["cpu"])
	if err != nil {
		return nil, fmt.Errorf("%s: cpu: %w", it.Name, err)
	}
	mem, err := resource.ParseQuantity(it.Resources["memory"])
	if err != nil {
		return nil, fmt.Errorf("%s: memory: %w", it.Name, err)
	}
	l := map[string]string{
		"karpenter.k8s.aws/instance-family": family,
		"karpenter.k8s.aws/instance-size":   size,
		"karpenter.k8s.aws/instance-cpu":    strconv.FormatInt(cpu.Value(), 10),
		"karpenter.k8s.aws/instance-memory": strconv.FormatInt(mem.Value()/(1<<20), 10),
	}
	if m := categoryRE.FindStringSubmatch(family); m != nil {
		l["karpenter.k8s.aws/instance-category"] = m[1]
		l["karpenter.k8s.aws/instance-generation"] = m[2]
	}
	return l, nil
}

func uniq(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
