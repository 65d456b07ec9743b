package topology

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/manifest"
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
	m, err := ReadManifests([]string{p}, manifest.Options{}, "default")
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
	m, err := ReadManifests([]string{f}, manifest.Options{}, "default")
	if err != nil {
		t.Fatal(err)
	}
	nm, err := ReadManifests([]string{nodesFile}, manifest.Options{}, "default")
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
	// Each file: a separator, a document of comments only, then the problem (document 1, line 4).
	cases := map[string]struct{ body, want string }{
		"bad-yaml.yaml":   {"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n   bad: indent\n", ":8: document 1: malformed YAML: mapping values are not allowed in this context"},
		"no-kind.yaml":    {"apiVersion: v1\nmetadata:\n  name: x\n", ":4: document 1: not a Kubernetes object: apiVersion and kind are required"},
		"typo.yaml":       {"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replica: 2\n", `:4: document 1: apps/v1 Deployment: json: unknown field "replica"`},
		"wrong-type.yaml": {"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  replicas: two\n", ":4: document 1: apps/v1 Deployment: json: cannot unmarshal string into Go struct field Deployment.spec.replicas of type int32"},
	}
	for name, c := range cases {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, []byte("---\n# comment only\n---\n"+c.body), 0o644)
		_, err := ReadManifests([]string{p}, manifest.Options{}, "default")
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if msg := err.Error(); msg != p+c.want {
			t.Errorf("%s: %q, want %q", name, msg, p+c.want)
		}
	}
	if _, err := ReadManifests([]string{filepath.Join(dir, "missing.yaml")}, manifest.Options{}, "default"); err == nil || !strings.Contains(err.Error(), "missing.yaml: no such file") {
		t.Fatalf("%v", err)
	}
	empty := t.TempDir()
	if _, err := ReadManifests([]string{empty}, manifest.Options{}, "default"); err == nil {
		t.Fatal("empty dir accepted")
	}
	m, err := ReadManifests([]string{writeYAML(t, dir, "sa.yaml", map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "x"}})}, manifest.Options{}, "default")
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
	m, err := ReadManifests([]string{p}, manifest.Options{}, "default")
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
