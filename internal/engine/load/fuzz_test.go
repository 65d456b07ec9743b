package load

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/manifest"
)

// FuzzParse feeds the -f loader (manifest parsing, workload expansion, strict EC2NodeClass decoding)
// arbitrary files: it returns a snapshot or a located *manifest.Error, never panics.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, false)
		}
	}
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers: [{name: c, resources: {requests: {cpu: 100m}}}]\n"), true)
	f.Add([]byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {parallelism: 4, completions: 2, template: {spec: {containers: [{name: c}]}}}\n"), false)
	f.Add([]byte("apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\nspec: {amiFamily: AL2023, bogus: 1}\n"), false)
	f.Add([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, skipUnknown bool) {
		snap, err := Parse("in.yaml", data, Options{SkipUnknownKinds: skipUnknown, Scale: []ScaleTarget{{Name: "web", Replicas: 2}}})
		if err != nil {
			var e *manifest.Error
			if !errors.As(err, &e) && !strings.HasPrefix(err.Error(), "scale: ") {
				t.Fatalf("error %v is neither located nor about a --scale target", err)
			}
			return
		}
		if snap == nil {
			t.Fatal("nil snapshot without an error")
		}
	})
}

// FuzzParseScale feeds --scale values: a target has a kind the planner knows (or none), a name
// without a slash and a replica count ≥ 0; anything else is an error quoting the value.
func FuzzParseScale(f *testing.F) {
	for _, s := range []string{"web=3", "deployment/web=10", "StatefulSet/db=0", "replicaset/rs=-1", "=1", "a/b/c=2", "web", "web=99999999999", "job/x=1", "deployment/=1"} {
		f.Add(s, "default")
	}
	f.Fuzz(func(t *testing.T, s, ns string) {
		ts, err := ParseScale([]string{s}, ns, false)
		if err != nil {
			if !strings.Contains(err.Error(), "want [deployment|statefulset|replicaset/]NAME=N") && !strings.Contains(err.Error(), "--scale") {
				t.Fatalf("error without the expected form: %v", err)
			}
			return
		}
		if len(ts) != 1 {
			t.Fatalf("%q gave %d targets", s, len(ts))
		}
		tg := ts[0]
		if tg.Name == "" || strings.Contains(tg.Name, "/") || tg.Replicas < 0 {
			t.Fatalf("%q gave %+v", s, tg)
		}
		switch tg.Kind {
		case "", "Deployment", "StatefulSet", "ReplicaSet":
		default:
			t.Fatalf("%q gave kind %q", s, tg.Kind)
		}
	})
}
