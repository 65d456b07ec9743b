package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestEmbeddedKwok(t *testing.T) {
	c, err := Named("kwok")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(c.InstanceTypes); got != 144 {
		t.Errorf("kwok catalog has %d instance types, want 144", got)
	}
	zones := map[string]bool{}
	for _, it := range c.InstanceTypes {
		for _, o := range it.Offerings {
			zones[o.Zone] = true
		}
	}
	if len(zones) != 4 || !zones["test-zone-a"] || !zones["test-zone-d"] {
		t.Errorf("zones = %v", zones)
	}
	it := c.InstanceTypes[0]
	if it.Name != "c-1x-amd64-linux" || it.Labels[KwokInstanceFamilyLabel] != "c" || it.Labels[KwokInstanceCPULabel] != "1" {
		t.Errorf("first type = %s labels %v", it.Name, it.Labels)
	}
	kits := c.KarpenterInstanceTypes()
	if len(kits) != 144 || kits[0].Overhead.KubeReserved.Cpu().MilliValue() != 100 {
		t.Errorf("karpenter types wrong: %d", len(kits))
	}
}

func TestNamed(t *testing.T) {
	if _, err := Named("aws"); err == nil || !strings.Contains(err.Error(), `unknown catalog "aws" (known: kwok`) {
		t.Errorf("the synthetic aws catalog is gone: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	good := `{"name":"x-1","architecture":"amd64","resources":{"cpu":"1","memory":"1Gi"},"offerings":[{"Price":0.1,"Available":true,"Requirements":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["z"]},{"key":"karpenter.sh/capacity-type","operator":"In","values":["on-demand"]}]}]}`
	cases := []struct {
		name, data string
		want       []string
	}{
		{"syntax", "[\n" + good + ",\n{\"name\": }\n]", []string{":3:", "#1", "invalid character"}},
		{"type", "[\n" + good + ",\n" + strings.Replace(good, `"Price":0.1`, `"Price":"cheap"`, 1) + "\n]", []string{":3:", "#1", "Price"}},
		{"unknown field", "[\n" + strings.Replace(good, `"name"`, `"nmae"`, 1) + "\n]", []string{":2:1", "#0", "field nmae", "unknown field"}},
		{"missing cpu", "[" + strings.Replace(good, `"cpu":"1",`, "", 1) + "]", []string{"field resources.cpu", "missing"}},
		{"no zone", "[" + strings.Replace(good, `{"key":"topology.kubernetes.io/zone","operator":"In","values":["z"]},`, "", 1) + "]", []string{"offerings[0].Requirements", "topology.kubernetes.io/zone"}},
		{"duplicate", "[" + good + "," + good + "]", []string{"duplicate"}},
		{"not array", `{"name":"x"}`, []string{"expected a JSON array"}},
		{"empty", `[]`, []string{"no instance types"}},
		{"trailing", "[" + good + "] [", []string{"after the top-level array"}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not *catalog.Error: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), path) {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
	path := filepath.Join(dir, "ok.json")
	_ = os.WriteFile(path, []byte("["+good+"]"), 0o600)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceTypes[0].Capacity.Pods().Value() != 110 || c.InstanceTypes[0].Labels[KwokInstanceFamilyLabel] != "x" {
		t.Errorf("defaults not applied: %+v", c.InstanceTypes[0])
	}
	if c.InstanceTypes[0].Offerings[0].Zone != "z" || c.InstanceTypes[0].Capacity[corev1.ResourceMemory] == (c.InstanceTypes[0].Capacity[corev1.ResourceCPU]) {
		t.Errorf("offering: %+v", c.InstanceTypes[0].Offerings)
	}
}
