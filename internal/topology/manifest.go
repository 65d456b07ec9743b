package topology

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/discovery"
)

// ManifestError is a manifest that cannot be read or parsed; File and Doc locate it.
type ManifestError struct {
	File string
	Doc  int // 1-based YAML document, 0 when not known
	Err  error
}

func (e *ManifestError) Error() string {
	msg := strings.Join(strings.Fields(e.Err.Error()), " ")
	if e.Doc > 0 {
		return fmt.Sprintf("%s: document %d: %s", e.File, e.Doc, msg)
	}
	return fmt.Sprintf("%s: %s", e.File, msg)
}
func (e *ManifestError) Unwrap() error { return e.Err }

// Manifests are the objects audit-topology understands, read from files; other kinds are ignored.
type Manifests struct {
	Deployments []appsv1.Deployment
	PDBs        []policyv1.PodDisruptionBudget
	FlowSchemas []flowcontrolv1.FlowSchema
	Pods        []corev1.Pod
	Nodes       []corev1.Node
	Leases      []coordinationv1.Lease
	// Files are the files read, in order.
	Files []string
}

// ReadManifests reads each path: "-" is stdin, a directory is walked for .yaml, .yml and .json files.
// Objects without a namespace get defaultNS.
func ReadManifests(paths []string, stdin io.Reader, defaultNS string) (*Manifests, error) {
	m := &Manifests{}
	for _, p := range paths {
		if p == "-" {
			if err := m.parse("<stdin>", stdin, defaultNS); err != nil {
				return nil, err
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, &ManifestError{File: p, Err: cleanPathErr(err)}
		}
		if !st.IsDir() {
			if err := m.parseFile(p, defaultNS); err != nil {
				return nil, err
			}
			continue
		}
		var files []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				if !d.IsDir() {
					files = append(files, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, &ManifestError{File: p, Err: cleanPathErr(err)}
		}
		if len(files) == 0 {
			return nil, &ManifestError{File: p, Err: errors.New("directory has no .yaml, .yml or .json files")}
		}
		sort.Strings(files)
		for _, f := range files {
			if err := m.parseFile(f, defaultNS); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func cleanPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (m *Manifests) parseFile(path, defaultNS string) error {
	f, err := os.Open(path)
	if err != nil {
		return &ManifestError{File: path, Err: cleanPathErr(err)}
	}
	defer f.Close()
	return m.parse(path, f, defaultNS)
}

func (m *Manifests) parse(name string, r io.Reader, defaultNS string) error {
	m.Files = append(m.Files, name)
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		b, err := yr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return &ManifestError{File: name, Doc: doc, Err: err}
		}
		if len(bytes.TrimSpace(stripComments(b))) == 0 {
			doc-- // comments or separators only: not a document
			continue
		}
		js, err := yaml.YAMLToJSON(b)
		if err != nil {
			return &ManifestError{File: name, Doc: doc, Err: err}
		}
		if err := m.add(js, defaultNS); err != nil {
			return &ManifestError{File: name, Doc: doc, Err: err}
		}
	}
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) == 0 || t[0] == '#' || string(t) == "---" {
			continue
		}
		out = append(out, l)
	}
	return bytes.Join(out, []byte("\n"))
}

// strictUnmarshal rejects unknown fields, so a typo ("replica:") is reported instead of ignored.
func strictUnmarshal(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func (m *Manifests) add(js []byte, defaultNS string) error {
	if s := string(bytes.TrimSpace(js)); s == "null" || s == "" {
		return nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object: %v", err)
	}
	if tm.Kind == "" {
		return errors.New("no kind: not a Kubernetes object")
	}
	if tm.APIVersion == "" {
		return fmt.Errorf("%s has no apiVersion", tm.Kind)
	}
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	if !strings.Contains(tm.APIVersion, "/") {
		group = ""
	}
	setNS := func(meta *metav1.ObjectMeta) {
		if meta.Namespace == "" {
			meta.Namespace = defaultNS
		}
	}
	decode := func(v any) error {
		if err := strictUnmarshal(js, v); err != nil {
			return fmt.Errorf("%s: %v", tm.Kind, err)
		}
		return nil
	}
	switch {
	case tm.Kind == "List" || strings.HasSuffix(tm.Kind, "List") && group == "":
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &l); err != nil {
			return fmt.Errorf("%s: %v", tm.Kind, err)
		}
		for i, it := range l.Items {
			if err := m.add(it, defaultNS); err != nil {
				return fmt.Errorf("items[%d]: %w", i, err)
			}
		}
	case tm.Kind == "Deployment" && tm.APIVersion == "apps/v1":
		var d appsv1.Deployment
		if err := decode(&d); err != nil {
			return err
		}
		setNS(&d.ObjectMeta)
		m.Deployments = append(m.Deployments, d)
	case tm.Kind == "PodDisruptionBudget" && (tm.APIVersion == "policy/v1" || tm.APIVersion == "policy/v1beta1"):
		// `helm template` without a cluster renders policy/v1beta1 (its default capabilities lack
		// policy/v1); the fields audited (selector, maxUnavailable, minAvailable) are the same.
		var p policyv1.PodDisruptionBudget
		if err := decode(&p); err != nil {
			return err
		}
		p.APIVersion = "policy/v1"
		setNS(&p.ObjectMeta)
		m.PDBs = append(m.PDBs, p)
	case tm.Kind == "FlowSchema" && group == "flowcontrol.apiserver.k8s.io":
		var f flowcontrolv1.FlowSchema
		if err := json.Unmarshal(js, &f); err != nil { // v1beta* differ only in defaults
			return fmt.Errorf("FlowSchema: %v", err)
		}
		m.FlowSchemas = append(m.FlowSchemas, f)
	case tm.Kind == "Pod" && tm.APIVersion == "v1":
		var p corev1.Pod
		if err := decode(&p); err != nil {
			return err
		}
		setNS(&p.ObjectMeta)
		m.Pods = append(m.Pods, p)
	case tm.Kind == "Node" && tm.APIVersion == "v1":
		var n corev1.Node
		if err := decode(&n); err != nil {
			return err
		}
		m.Nodes = append(m.Nodes, n)
	case tm.Kind == "Lease" && tm.APIVersion == "coordination.k8s.io/v1":
		var l coordinationv1.Lease
		if err := decode(&l); err != nil {
			return err
		}
		setNS(&l.ObjectMeta)
		m.Leases = append(m.Leases, l)
	}
	return nil
}

// OfflineInput picks the Karpenter Deployment from the manifests (the one whose labels match
// selector, or the only Deployment) and builds an offline Input. nodes (from --nodes-file) are added
// to any nodes in the manifests; pods and nodes together enable the placement checks.
func (m *Manifests) OfflineInput(selector string, nodes []corev1.Node) (Input, *discovery.Karpenter, error) {
	if selector == "" {
		selector = discovery.DefaultSelector
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return Input{}, nil, fmt.Errorf("--karpenter-selector %q: %v", selector, err)
	}
	var d *appsv1.Deployment
	var matched []*appsv1.Deployment
	for i := range m.Deployments {
		if sel.Matches(labels.Set(m.Deployments[i].Labels)) {
			matched = append(matched, &m.Deployments[i])
		}
	}
	switch {
	case len(matched) == 1:
		d = matched[0]
	case len(matched) == 0 && len(m.Deployments) == 1:
		d = &m.Deployments[0]
	case len(m.Deployments) == 0:
		return Input{}, nil, fmt.Errorf("%s: no apps/v1 Deployment in the manifests", strings.Join(m.Files, ", "))
	default:
		var names []string
		for _, x := range m.Deployments {
			names = append(names, x.Namespace+"/"+x.Name)
		}
		return Input{}, nil, fmt.Errorf("%s: %d Deployments (%s) and %d match %s; choose one with --karpenter-selector", strings.Join(m.Files, ", "), len(m.Deployments), strings.Join(names, ", "), len(matched), selector)
	}
	k := discovery.FromDeployment(d)
	in := Input{Mode: "offline", Deployment: d, PDBs: m.PDBs, PDBsRead: true}
	if len(m.FlowSchemas) > 0 {
		in.FlowSchemas, in.FlowSchemasRead = m.FlowSchemas, true
	}
	if len(m.Pods) > 0 {
		in.PodsRead = true
		for _, p := range m.Pods {
			if p.Namespace == d.Namespace && k.PodSelector != nil && k.PodSelector.Matches(labels.Set(p.Labels)) {
				in.Pods = append(in.Pods, p)
			}
		}
		sort.Slice(in.Pods, func(i, j int) bool { return in.Pods[i].Name < in.Pods[j].Name })
	}
	if all := append(append([]corev1.Node(nil), m.Nodes...), nodes...); len(all) > 0 {
		seen := map[string]bool{}
		for i := range all {
			n := &all[i]
			if seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			in.Inventory = append(in.Inventory, metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}, ObjectMeta: n.ObjectMeta})
		}
		in.InventoryRead = true
	}
	for i := range m.Leases {
		l := &m.Leases[i]
		if l.Namespace == k.LeaseNamespace && l.Name == k.LeaseName && !k.LeaderElectionDisabled {
			in.Lease, in.LeaseRead = l, true
		}
	}
	return in, k, nil
}
