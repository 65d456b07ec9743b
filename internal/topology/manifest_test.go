package topology

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/harness"
)

func writeYAML(t *testing.T, dir, name string, objs ...any) string {
	t.Helper()
	var docs []string
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, "# Source: karpenter/templates/x.yaml\n"+string(b))
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("---\n"+strings.Join(docs, "---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func typed(d any, apiVersion, kind string) map[string]any {
	b, _ := json.Marshal(d)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["apiVersion"], m["kind"] = apiVersion, kind
	return m
}

func TestOfflineSpecFindingsMatchLive(t *testing.T) {
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "kube-system", Bare: true})
	dir := t.TempDir()
	sa := map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "karpenter"}}
	p := writeYAML(t, dir, "karpenter.yaml", sa, typed(d, "apps/v1", "Deployment"))
	m, err := ReadManifests([]string{p}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	in, k, err := m.OfflineInput("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "karpenter" || in.PodsRead || in.InventoryRead {
		t.Fatalf("%+v", in)
	}
	off := Evaluate(in, Options{})
	live := Evaluate(newScenario(d).pod("k-1", "a1").pod("k-2", "b1").in, Options{})
	if a, b := specFindings(off), specFindings(live); a != b || a == "" {
		t.Fatalf("offline:\n%s\nlive:\n%s", a, b)
	}
}

func specFindings(r Report) string {
	var out []string
	for _, f := range r.Findings {
		if f.IsSpec() {
			out = append(out, f.ID+" "+f.Message)
		}
	}
	return strings.Join(out, "\n")
}

func TestOfflinePlacementFromDumps(t *testing.T) {
	s := chartDefault()
	dir := t.TempDir()
	var objs []any
	objs = append(objs, typed(s.in.Deployment, "apps/v1", "Deployment"), typed(s.in.PDBs[0], "policy/v1", "PodDisruptionBudget"))
	for _, p := range s.in.Pods {
		objs = append(objs, typed(p, "v1", "Pod"))
	}
	f := writeYAML(t, dir, "objs.yaml", objs...)
	var items []any
	for _, n := range s.in.Inventory {
		items = append(items, typed(n, "v1", "Node"))
	}
	nodesFile := writeYAML(t, dir, "nodes.yaml", map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	m, err := ReadManifests([]string{f}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	nm, err := ReadManifests([]string{nodesFile}, nil, "default")
	if err != nil || len(nm.Nodes) != 5 {
		t.Fatalf("%v %d", err, len(nm.Nodes))
	}
	in, _, err := m.OfflineInput("", nm.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(in, Options{Profile: ProfileCritical})
	if count(r, "zones-below-profile") != 1 || len(r.ZoneLoss) != 3 || len(r.Placements) != 2 {
		t.Fatalf("%v %+v", ids(r, ""), r.ZoneLoss)
	}
}

func TestMalformedManifestNamesFileAndProblem(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"bad-yaml.yaml":   "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n   bad: indent\n",
		"no-kind.yaml":    "apiVersion: v1\nmetadata:\n  name: x\n",
		"typo.yaml":       "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n",
		"wrong-type.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n",
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte("---\n# comment only\n---\n"+body), 0o644)
		_, err := ReadManifests([]string{p}, nil, "default")
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, p+": document 1: ") || strings.Contains(msg, "\n") {
			t.Fatalf("%s: %q", name, msg)
		}
	}
	if _, err := ReadManifests([]string{filepath.Join(dir, "missing.yaml")}, nil, "default"); err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file") {
		t.Fatalf("%v", err)
	}
	empty := t.TempDir()
	if _, err := ReadManifests([]string{empty}, nil, "default"); err == nil {
		t.Fatal("empty dir accepted")
	}
	m, err := ReadManifests([]string{writeYAML(t, dir, "sa.yaml", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "x"}})}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.OfflineInput("", nil); err == nil || !strings.Contains(err.Error(), "no apps/v1 Deployment") {
		t.Fatalf("%v", err)
	}
}

// `helm template` without a cluster renders the chart's PDB as policy/v1beta1.
func TestPolicyV1beta1PDBCounts(t *testing.T) {
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "kube-system"})
	p := writeYAML(t, t.TempDir(), "chart.yaml", typed(harness.KarpenterPDB("kube-system"), "policy/v1beta1", "PodDisruptionBudget"), typed(d, "apps/v1", "Deployment"))
	m, err := ReadManifests([]string{p}, nil, "default")
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := m.OfflineInput("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := Evaluate(in, Options{}); count(r, "pdb-missing") != 0 {
		t.Fatalf("%v", ids(r, ""))
	}
}
