package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

func write(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n"

func podYAML(name string) string { return strings.Replace(pod, "%s", name, 1) }

// names lists the objects as KIND/NAME@FILE:LINE#DOCUMENT.
func names(t *testing.T, m *Manifests) string {
	t.Helper()
	var out []string
	for _, o := range m.Objects {
		var meta struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		if err := o.Decode(&meta); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%s@%s:%d#%d", o.Kind, meta.Metadata.Name, filepath.Base(o.File), o.Line, o.Document))
	}
	return strings.Join(out, " ")
}

// Every problem reads FILE:LINE: document N: problem, N counting the documents kubectl decodes (not
// the empty or comment-only ones) from 1, LINE the file's line.
func TestErrorFormat(t *testing.T) {
	helm := "---\n# Source: karpenter/templates/a.yaml\n" + podYAML("a") + "---\n# Source: karpenter/templates/b.yaml\n"
	for _, c := range []struct{ name, data, want string }{
		{"yaml", helm + "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n   bad: indent\n",
			":13: document 2: malformed YAML: mapping values are not allowed in this context"},
		{"no-kind", "---\n# only a comment\n---\n\napiVersion: v1\nmetadata:\n  name: x\n",
			":5: document 1: not a Kubernetes object: apiVersion and kind are required"},
		{"scalar", podYAML("a") + "---\njust text\n",
			":6: document 2: not a Kubernetes object: a string, not a mapping"},
		{"separator", podYAML("a") + "--- kind: Pod\n" + podYAML("b"),
			":5: document 2: invalid YAML document separator: kind: Pod"},
		{"list-item", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- metadata: {name: b}\n",
			":1: document 1: items[1]: not a Kubernetes object: apiVersion and kind are required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, t.TempDir(), c.name+".yaml", c.data)
			_, err := Read([]string{p}, Options{})
			var me *Error
			if !errors.As(err, &me) {
				t.Fatalf("want *Error, got %v", err)
			}
			if got := err.Error(); got != p+c.want {
				t.Errorf("\n got %q\nwant %q", got, p+c.want)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "nested/sub/a.yaml", podYAML("a"))
	for _, c := range []struct {
		paths []string
		opts  Options
		want  string
	}{
		{[]string{filepath.Join(dir, "missing.yaml")}, Options{}, filepath.Join(dir, "missing.yaml") + ": no such file or directory"},
		{[]string{filepath.Join(dir, "nested")}, Options{}, filepath.Join(dir, "nested") + ": no .json, .yaml or .yml files (-R reads its subdirectories too)"},
		{[]string{filepath.Join(dir, "nested", "sub", "a.yaml"), "-"}, Options{}, "<stdin>: no standard input"},
		{[]string{"-", "-"}, Options{Stdin: strings.NewReader(podYAML("a"))}, "<stdin>: standard input can be read only once (- given twice)"},
	} {
		_, err := Read(c.paths, c.opts)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: %v, want %s", c.paths, err, c.want)
		}
	}
	empty := t.TempDir()
	if _, err := Read([]string{empty}, Options{Recursive: true}); err == nil || err.Error() != empty+": no .json, .yaml or .yml files" {
		t.Errorf("empty directory: %v", err)
	}
}

// A directory is its .json, .yaml and .yml files in lexical order; -R adds its subdirectories'. A
// file named explicitly is read whatever its extension.
func TestPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.yaml", podYAML("b"))
	write(t, dir, "a.json", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}`)
	write(t, dir, "notes.txt", podYAML("txt"))
	write(t, dir, "sub/c.yml", "# comment\n\n"+podYAML("c"))
	txt := filepath.Join(dir, "notes.txt")
	m, err := Read([]string{dir, txt}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, m), "Pod/a@a.json:1#1 Pod/b@b.yaml:1#1 Pod/txt@notes.txt:1#1"; got != want {
		t.Errorf("flat: %s, want %s", got, want)
	}
	if got := strings.Join(m.Files, ","); got != filepath.Join(dir, "a.json")+","+filepath.Join(dir, "b.yaml")+","+txt {
		t.Errorf("files %s", got)
	}
	if m, err = Read([]string{dir}, Options{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, m), "Pod/a@a.json:1#1 Pod/b@b.yaml:1#1 Pod/c@c.yml:3#1"; got != want {
		t.Errorf("recursive: %s, want %s", got, want)
	}
	m, err = Read([]string{"-"}, Options{Stdin: strings.NewReader("---\n" + podYAML("s") + "---\n---\n" + podYAML("t"))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, m), "Pod/s@<stdin>:2#1 Pod/t@<stdin>:8#2"; got != want || m.Files[0] != Stdin {
		t.Errorf("stdin: %s %v, want %s", got, m.Files, want)
	}
}

// Lists are flattened as kubectl flattens them: any document with items; a typed list's items get
// its apiVersion and kind. Empty documents are skipped.
func TestLists(t *testing.T) {
	objs, err := Parse("l.yaml", []byte("apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: a}\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n}\n---\nnull\n---\n"+
		"apiVersion: v1\nkind: List\nitems: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].Kind != "Pod" || objs[0].APIVersion != "v1" || objs[1].Kind != "Node" || objs[1].Line != 1 {
		t.Fatalf("%+v", objs)
	}
	if err := objs[1].Errorf("bad"); err.Error() != "l.yaml:1: document 1: items[1]: bad" {
		t.Errorf("item error %q", err)
	}
}

// Decode ignores unknown fields, DecodeStrict names them; both name the object's kind.
func TestDecode(t *testing.T) {
	objs, err := Parse("d.yaml", []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replica: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := objs[0].Decode(&d); err != nil || d.Name != "d" {
		t.Errorf("lenient: %v", err)
	}
	err = objs[0].DecodeStrict(&d)
	if want := `d.yaml:1: document 1: apps/v1 Deployment: json: unknown field "replica"`; err == nil || err.Error() != want {
		t.Errorf("strict: %v, want %s", err, want)
	}
	if objs[0].Group() != "apps" {
		t.Errorf("group %q", objs[0].Group())
	}
}
