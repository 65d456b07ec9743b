package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds Parse what -f may read: it returns objects or a located *Error, never panics, and
// every object it returns is JSON that knows its file, line and document.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n",
		"---\n# comment\n---\napiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  apiVersion: v1\n  metadata: {name: b}\n",
		`{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"c"}}]}`,
		"a: [\n", "---\n---\n", "kind: Pod\n\tbad: tab\n", "items: 3\n", "- 1\n- 2\n",
	} {
		f.Add([]byte(s))
	}
	seeds, _ := filepath.Glob("../engine/load/testdata/*")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("in.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "in.yaml" {
				t.Fatalf("error %v is not located in in.yaml", err)
			}
			if e.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, o := range objs {
			if o.File != "in.yaml" || o.Line < 1 || o.Document < 1 {
				t.Fatalf("object at %+v", o.Location)
			}
			var v map[string]any
			_ = o.Decode(&v)
			_ = o.Group()
		}
	})
}
