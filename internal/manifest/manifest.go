// Package manifest reads the -f of every karpctl command as kubectl reads it: files, directories (their
// .json, .yaml and .yml files in lexical order; with Recursive their subdirectories too, as -R does)
// and "-" for standard input. Each YAML document, and each item of a List, becomes an Object that
// knows where it came from, so that every problem is reported the same way:
//
//	FILE:LINE: document N: problem
//
// LINE is the 1-based line of the file: where YAML reports a syntax error, else the first line of the
// document. N is the 1-based number of the document in its file, counting the documents kubectl
// decodes: text between "---" separators that has a line other than blank lines and comments (a file
// without separators is document 1). A problem with the file itself (missing, unreadable, a directory
// without manifests) is reported as FILE: problem. Nothing here knows a kind: callers decode the
// objects they use into their own types.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/resource"
	"sigs.k8s.io/yaml"
)

// Stdin is how standard input ("-") is named in errors and in Manifests.Files.
const Stdin = "<stdin>"

// Options say how paths are read.
type Options struct {
	// Recursive also reads the subdirectories of a directory (kubectl's -R, --recursive).
	Recursive bool
	// Stdin is read for the path "-".
	Stdin io.Reader
}

// Manifests are the objects read, in the order of the paths, the files and the documents.
type Manifests struct {
	Objects []Object
	// Files are the files read, in order (Stdin for "-").
	Files []string
}

// Location is where an object, or a problem, is in the input.
type Location struct {
	File string
	// Line is 1-based; 0 when the problem is the file itself.
	Line int
	// Document is the 1-based document of the file; 0 when the problem is the file itself.
	Document int
}

// Error is a problem in the input, located.
type Error struct {
	Location
	Err error
}

func (e *Error) Error() string {
	// One line, whatever the decoder said: the command prints it as its only line.
	msg := strings.Join(strings.Fields(e.Err.Error()), " ")
	if e.Document == 0 {
		return fmt.Sprintf("%s: %s", e.File, msg)
	}
	return fmt.Sprintf("%s:%d: document %d: %s", e.File, e.Line, e.Document, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Object is one Kubernetes object of the input: a document, or an item of a List document.
type Object struct {
	metav1.TypeMeta
	// JSON is the object's JSON encoding.
	JSON []byte
	Location
	// item is the index in the List the object came from; -1 for a document.
	item int
}

// Group is the API group of the object's apiVersion ("" for the core group).
func (o *Object) Group() string {
	gv, _ := schema.ParseGroupVersion(o.APIVersion)
	return gv.Group
}

// Errorf is a problem with the object, located at it.
func (o *Object) Errorf(format string, a ...any) error {
	return o.located(fmt.Errorf(format, a...))
}

func (o *Object) located(err error) error {
	if o.item >= 0 {
		err = fmt.Errorf("items[%d]: %w", o.item, err)
	}
	return &Error{Location: o.Location, Err: err}
}

// Decode decodes the object into v; fields v does not have are ignored, as the API server's
// clients ignore them.
func (o *Object) Decode(v any) error {
	if err := json.Unmarshal(o.JSON, v); err != nil {
		return o.Errorf("%s %s: %v", o.APIVersion, o.Kind, err)
	}
	return nil
}

// DecodeStrict decodes the object into v and rejects fields v does not have, so that a misspelt
// field ("replica:") is reported instead of silently ignored.
func (o *Object) DecodeStrict(v any) error {
	dec := json.NewDecoder(bytes.NewReader(o.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return o.Errorf("%s %s: %v", o.APIVersion, o.Kind, err)
	}
	return nil
}

// Read reads every path: "-" is Options.Stdin (once), a directory its manifest files, anything else a
// file whatever its extension.
func Read(paths []string, opts Options) (*Manifests, error) {
	m := &Manifests{}
	stdinRead := false
	for _, p := range paths {
		if p == "-" {
			switch {
			case opts.Stdin == nil:
				return nil, &Error{Location: Location{File: Stdin}, Err: errors.New("no standard input")}
			case stdinRead:
				return nil, &Error{Location: Location{File: Stdin}, Err: errors.New("standard input can be read only once (- given twice)")}
			}
			stdinRead = true
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, &Error{Location: Location{File: Stdin}, Err: err}
			}
			if err := m.add(Stdin, data); err != nil {
				return nil, err
			}
			continue
		}
		files, err := expand(p, opts.Recursive)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, &Error{Location: Location{File: f}, Err: pathError(err)}
			}
			if err := m.add(f, data); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *Manifests) add(file string, data []byte) error {
	objs, err := Parse(file, data)
	if err != nil {
		return err
	}
	m.Files = append(m.Files, file)
	m.Objects = append(m.Objects, objs...)
	return nil
}

// expand lists the files a path names with kubectl's own walk (cli-runtime's
// ExpandPathsToFileVisitors, as `kubectl apply -f DIR [-R]` uses it).
func expand(p string, recursive bool) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, &Error{Location: Location{File: p}, Err: pathError(err)}
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	visitors, err := resource.ExpandPathsToFileVisitors(nil, p, recursive, resource.FileExtensions, nil)
	if err != nil {
		return nil, &Error{Location: Location{File: p}, Err: pathError(err)}
	}
	var files []string
	for _, v := range visitors {
		if fv, ok := v.(*resource.FileVisitor); ok {
			files = append(files, fv.Path)
		}
	}
	if len(files) == 0 {
		why := "no .json, .yaml or .yml files"
		if !recursive && hasSubdirectory(p) {
			why += " (-R reads its subdirectories too)"
		}
		return nil, &Error{Location: Location{File: p}, Err: errors.New(why)}
	}
	return files, nil
}

func hasSubdirectory(dir string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// pathError drops the path a *fs.PathError repeats: the Error names it already.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse reads the objects of one file's contents; file names it in errors.
func Parse(file string, data []byte) ([]Object, error) {
	docs, err := split(data)
	if err != nil {
		return nil, &Error{Location: Location{File: file, Line: err.line, Document: err.document}, Err: err.err}
	}
	var out []Object
	for _, d := range docs {
		at := Location{File: file, Line: d.line, Document: d.number}
		js, err := yaml.YAMLToJSON(d.data)
		if err != nil {
			at.Line, err = yamlError(err, d)
			return nil, &Error{Location: at, Err: err}
		}
		if out, err = appendObjects(out, js, at, -1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appendObjects adds the object js, or the items of a list, to out. A list is what kubectl takes for
// one: a document with an items field; an item without apiVersion and kind gets the list's (the API
// server leaves them out of a PodList's items).
func appendObjects(out []Object, js []byte, at Location, item int) ([]Object, error) {
	o := Object{JSON: js, Location: at, item: item}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return out, nil // an empty document, as kubectl skips it
	}
	if kind := jsonKind(js); kind != "" {
		return nil, o.Errorf("not a Kubernetes object: %s, not a mapping", kind)
	}
	var head struct {
		metav1.TypeMeta
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return nil, o.Errorf("not a Kubernetes object: %v", err)
	}
	o.TypeMeta = head.TypeMeta
	if head.Items != nil && item < 0 {
		for i, raw := range head.Items {
			js, err := itemJSON(raw, head.TypeMeta)
			if err != nil {
				return nil, (&Object{Location: at, item: i}).Errorf("not a Kubernetes object: %v", err)
			}
			if out, err = appendObjects(out, js, at, i); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if o.Kind == "" || o.APIVersion == "" {
		return nil, o.Errorf("not a Kubernetes object: apiVersion and kind are required")
	}
	return append(out, o), nil
}

// jsonKind names what js is when it is not an object ("a string"); "" for an object.
func jsonKind(js []byte) string {
	switch c := bytes.TrimSpace(js); {
	case len(c) == 0 || c[0] == '{':
		return ""
	case c[0] == '[':
		return "a sequence"
	case c[0] == '"':
		return "a string"
	default:
		return "a scalar"
	}
}

// itemJSON is a list item, with the list's apiVersion and kind (less "List") when it has neither.
func itemJSON(raw json.RawMessage, list metav1.TypeMeta) ([]byte, error) {
	if jsonKind(raw) != "" {
		return raw, nil // appendObjects says what it is
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, err
	}
	if tm.Kind != "" || tm.APIVersion != "" {
		return raw, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	obj["apiVersion"], obj["kind"] = list.APIVersion, strings.TrimSuffix(list.Kind, "List")
	return json.Marshal(obj)
}

// document is one YAML document of a file.
type document struct {
	// number is 1-based; line is where its first line that is neither blank nor a comment is, start
	// where its text starts (the line after the separator).
	number, line, start int
	data                []byte
}

type splitError struct {
	line, document int
	err            error
}

// split cuts a YAML stream into documents at "---" lines, as kubectl's YAML reader does: a
// separator may be followed by a comment only.
func split(data []byte) ([]document, *splitError) {
	var docs []document
	start, cur := 1, []byte{}
	flush := func(next int) {
		line := start
		for _, ln := range bytes.SplitAfter(cur, []byte("\n")) {
			if t := bytes.TrimSpace(ln); len(t) > 0 && t[0] != '#' {
				docs = append(docs, document{number: len(docs) + 1, line: line, start: start, data: cur})
				break
			}
			line++
		}
		cur, start = []byte{}, next
	}
	for i, ln := range bytes.SplitAfter(data, []byte("\n")) {
		rest, isSep := bytes.CutPrefix(bytes.TrimRight(ln, "\r\n"), []byte("---"))
		if !isSep {
			cur = append(cur, ln...)
			continue
		}
		flush(i + 2)
		if t := bytes.TrimSpace(rest); len(t) > 0 && t[0] != '#' {
			return nil, &splitError{line: i + 1, document: len(docs) + 1, err: fmt.Errorf("invalid YAML document separator: %s", t)}
		}
	}
	flush(0)
	return docs, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// yamlError is the line of the file where YAML found a syntax error (it counts from the document's
// start), and the error with its line numbers made the file's.
func yamlError(err error, d document) (int, error) {
	msg, line := err.Error(), d.line
	first := true
	msg = yamlLine.ReplaceAllStringFunc(msg, func(s string) string {
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "line "))
		n += d.start - 1
		if first {
			line, first = n, false
		}
		return "line " + strconv.Itoa(n)
	})
	// "yaml: line N: problem": the location says the line already.
	msg = strings.TrimPrefix(msg, "yaml: line "+strconv.Itoa(line)+": ")
	return line, fmt.Errorf("malformed YAML: %s", msg)
}
