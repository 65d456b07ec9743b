package load

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/manifest"
)

func TestFromFilesExpandsWorkloads(t *testing.T) {
	snap, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.NodePools) != 1 || snap.NodePools[0].Name != "default" {
		t.Fatalf("NodePools %v", snap.NodePools)
	}
	var names []string
	for _, p := range snap.PendingPods {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	if got := strings.Join(names, ","); got != "shop/web-0,shop/web-1,shop/web-2,default/report-0,default/report-1,default/single" {
		t.Errorf("pending pods %s", got)
	}
	web0 := snap.PendingPods[0]
	if web0.UID == "" || web0.CreationTimestamp.IsZero() || web0.Labels["app"] != "web" || web0.OwnerReferences[0].Kind != "ReplicaSet" {
		t.Errorf("web-0 not expanded with stable identity: %+v", web0.ObjectMeta)
	}
	again, _ := FromFiles([]string{"testdata/cluster.yaml"}, Options{})
	if again.PendingPods[0].UID != web0.UID || !again.PendingPods[0].CreationTimestamp.Equal(&web0.CreationTimestamp) {
		t.Error("UIDs or creation times differ between loads")
	}

	// The expanded snapshot plans: three web replicas on three nodes (anti-affinity), the rest packed.
	res, err := engine.Plan(context.Background(), snap, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Totals.PodsOnNewNodes != 6 || res.Totals.NewNodes != 3 {
		t.Errorf("plan totals %+v, want 6 pods on 3 nodes", res.Totals)
	}
}

func TestScale(t *testing.T) {
	snap, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{Scale: []ScaleTarget{{Namespace: "shop", Name: "web", Replicas: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.PendingPods) != 13 {
		t.Errorf("%d pending pods, want 13 (10 web + 2 job + 1 pod)", len(snap.PendingPods))
	}
	if _, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{Scale: []ScaleTarget{{Name: "nope", Replicas: 1}}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown scale target: %v", err)
	}
}

// A scale target with a kind only matches workloads of that kind (any case); without one, any kind.
func TestScaleMatchesKind(t *testing.T) {
	_, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{Scale: []ScaleTarget{{Kind: "StatefulSet", Name: "web", Replicas: 5}}})
	if err == nil || err.Error() != "scale: no StatefulSet named web in the input" {
		t.Errorf("StatefulSet web scaled the Deployment web: %v", err)
	}
	for _, kind := range []string{"", "Deployment", "deployment"} {
		snap, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{Scale: []ScaleTarget{{Kind: kind, Name: "web", Replicas: 5}}})
		if err != nil || len(snap.PendingPods) != 8 {
			t.Errorf("kind %q: %v, want 8 pending pods (5 web + 2 job + 1 pod)", kind, err)
		}
	}
	_, err = FromFiles([]string{"testdata/cluster.yaml"}, Options{Scale: []ScaleTarget{
		{Kind: "ReplicaSet", Name: "web"}, {Name: "b"}, {Namespace: "x", Name: "a"}, {Kind: "Deployment", Name: "web", Replicas: 1},
	}})
	if want := "scale: no Deployment, StatefulSet or ReplicaSet named b, x/a in the input; no ReplicaSet named web in the input"; err == nil || err.Error() != want {
		t.Errorf("unused targets: %v, want %s", err, want)
	}
}

// Generated replicas keep the UIDs earlier versions gave them (sha256 of kind/namespace/name/index).
func TestReplicaUIDsAreStable(t *testing.T) {
	snap, err := FromFiles([]string{"testdata/cluster.yaml"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	web0 := snap.PendingPods[0]
	if web0.Name != "web-0" || web0.UID != "2608abf3-8dee-4622-0149-65710f9edcb7" || web0.OwnerReferences[0].UID != "c9bef405-febe-27bc-b225-30fa308c1117" {
		t.Errorf("web-0 %s uid %s owner %+v", web0.Name, web0.UID, web0.OwnerReferences)
	}
	if !web0.CreationTimestamp.Equal(&metav1.Time{Time: time.Date(2020, 1, 1, 0, 0, 1, 0, time.UTC)}) {
		t.Errorf("web-0 created %v", web0.CreationTimestamp)
	}
}

func TestDirectoryListsAndStatefulSets(t *testing.T) {
	snap, err := FromFiles([]string{"testdata"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Nodes) != 1 || len(snap.Pods) != 1 || snap.Pods[0].Spec.NodeName != "n1" {
		t.Errorf("List items not loaded: nodes %d, bound pods %d", len(snap.Nodes), len(snap.Pods))
	}
	if len(snap.PersistentVolumeClaims) != 2 || snap.PersistentVolumeClaims[0].Name != "data-db-0" {
		t.Errorf("StatefulSet claims %v", snap.PersistentVolumeClaims)
	}
}

func TestStdin(t *testing.T) {
	f, _ := os.Open("testdata/statefulset.yaml")
	defer f.Close()
	snap, err := FromFiles([]string{"-"}, Options{Options: manifest.Options{Stdin: f}})
	if err != nil || len(snap.PendingPods) != 2 {
		t.Fatalf("stdin: %v, %v", err, snap)
	}
}

func TestErrorsNameFileDocumentAndLine(t *testing.T) {
	cases := []struct {
		name, data string
		want       []string
	}{
		{"bad-yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [\n", []string{"bad-yaml.yaml:", "document 2: malformed YAML"}},
		{"unknown-kind", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\n\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n", []string{"unknown-kind.yaml:7: document 2: unsupported kind Service"}},
		{"no-kind", "foo: bar\n", []string{"no-kind.yaml:1: document 1: not a Kubernetes object: apiVersion and kind are required"}},
		{"wrong-type", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: many\n", []string{"wrong-type.yaml:1: document 1: apps/v1 Deployment: ", "replicas"}},
		{"v1beta1", "apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata:\n  name: old\n", []string{"karpenter.sh/v1beta1 NodePool is not supported"}},
		{"duplicate-test", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n", []string{"duplicate-test.yaml:6: document 2: duplicate Pod default/a (first at ", "duplicate-test.yaml:1)"}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := FromFiles([]string{path}, Options{})
			var me *manifest.Error
			if !errors.As(err, &me) {
				t.Fatalf("want *manifest.Error, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	path := filepath.Join(dir, "unknown-kind.yaml")
	if _, err := FromFiles([]string{path}, Options{SkipUnknownKinds: true}); err != nil {
		t.Errorf("SkipUnknownKinds: %v", err)
	}
}

// FuzzLoad: whatever the bytes, the loader returns a snapshot or an error, never panics.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"cluster.yaml", "list.json", "statefulset.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 2}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := Parse("fuzz.yaml", data, Options{SkipUnknownKinds: true})
		if err == nil && snap == nil {
			t.Fatal("nil snapshot without error")
		}
	})
}
