// Command gen writes the embedded catalog of package catalog from the Karpenter module:
//
//	data/kwok.json   kwok/cloudprovider/instance_types.json, compacted (one type a line)
//
// Run it with `go generate ./internal/engine/catalog` (needs the Karpenter module in the module cache,
// which any build of karpctl downloads).
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
	"strings"
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
