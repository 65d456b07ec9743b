// Package load builds engine.Snapshots: from manifest files (FromFiles) or read-only from a cluster
// (FromCluster).
package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/engine"
)

// Options tune the file loader.
type Options struct {
	// Stdin is read for the path "-".
	Stdin io.Reader
	// Scale overrides replicas of Deployments, StatefulSets and ReplicaSets (the what-if
	// `--scale [KIND/]NAME=N`). A target with no Kind matches any of the three kinds, one with no
	// Namespace any namespace. A target that matches nothing is an error.
	Scale []ScaleTarget
	// SkipUnknownKinds ignores documents of kinds the planner does not use (Services, ConfigMaps...)
	// instead of failing on them.
	SkipUnknownKinds bool
}

// Error locates a problem in an input file.
type Error struct {
	File     string
	Document int // 0-based index of the YAML document in the file
	Line     int // 1-based line where the problem is (or where the document starts)
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d: document %d: %v", e.File, e.Line, e.Document, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// FromFiles reads YAML or JSON manifests (multi-document; v1 List objects too) from files,
// directories (*.yaml, *.yml, *.json, sorted, not recursive) or "-" for Opts.Stdin.
//
// Pods without a node and the replicas of Deployments, StatefulSets, ReplicaSets and Jobs become
// pending pods with stable names (NAME-i), UIDs and creation times. NodePools (karpenter.sh/v1),
// NodeClaims, Nodes, bound Pods, DaemonSets, PVCs, PVs, StorageClasses, CSINodes and EC2NodeClasses
// (karpenter.k8s.aws/v1, decoded strictly) are kept. Other NodeClass documents (any kind ending in
// NodeClass) are ignored. Anything else is an error unless
// SkipUnknownKinds is set.
func FromFiles(paths []string, opts Options) (*engine.Snapshot, error) {
	l := newLoader(opts)
	for _, p := range paths {
		if p == "-" {
			if opts.Stdin == nil {
				return nil, errors.New("reading -: no standard input")
			}
			data, err := io.ReadAll(opts.Stdin)
			if err != nil {
				return nil, fmt.Errorf("reading standard input: %w", err)
			}
			if err := l.parse("<stdin>", data); err != nil {
				return nil, err
			}
			continue
		}
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", f, err)
			}
			if err := l.parse(f, data); err != nil {
				return nil, err
			}
		}
	}
	return l.finish()
}

// Parse reads one file's contents; FromFiles for in-memory data.
func Parse(name string, data []byte, opts Options) (*engine.Snapshot, error) {
	l := newLoader(opts)
	if err := l.parse(name, data); err != nil {
		return nil, err
	}
	return l.finish()
}

func expand(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	var out []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				out = append(out, filepath.Join(p, e.Name()))
			}
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("reading %s: no .yaml, .yml or .json files", p)
	}
	return out, nil
}

type loader struct {
	opts      Options
	snap      *engine.Snapshot
	workloads int
	scaleUsed map[int]bool      // indexes of Options.Scale that matched a workload
	seen      map[string]string // kind/ns/name -> file:line, to report duplicates
}

func newLoader(opts Options) *loader {
	return &loader{opts: opts, snap: &engine.Snapshot{}, scaleUsed: map[int]bool{}, seen: map[string]string{}}
}

func (l *loader) finish() (*engine.Snapshot, error) {
	unused := map[string][]string{} // kind -> names
	for i, t := range l.opts.Scale {
		if l.scaleUsed[i] {
			continue
		}
		kind, name := t.Kind, t.Name
		if kind == "" {
			kind = "Deployment, StatefulSet or ReplicaSet"
		}
		if t.Namespace != "" {
			name = t.Namespace + "/" + name
		}
		unused[kind] = append(unused[kind], name)
	}
	if len(unused) > 0 {
		var msgs []string
		for kind, names := range unused {
			sort.Strings(names)
			msgs = append(msgs, fmt.Sprintf("no %s named %s in the input", kind, strings.Join(names, ", ")))
		}
		sort.Strings(msgs)
		return nil, fmt.Errorf("scale: %s", strings.Join(msgs, "; "))
	}
	return l.snap, nil
}

type document struct {
	index, line int
	data        []byte
}

var docSeparator = regexp.MustCompile(`^---(\s.*)?$`)

// split cuts a YAML stream into documents, remembering where each starts.
func split(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, cur := 1, []byte{}
	flush := func(next int) {
		// A document needs a line that is neither blank nor a comment; it starts there, not at the
		// blank lines or comments before it.
		first := start
		for _, ln := range bytes.SplitAfter(cur, []byte("\n")) {
			if t := bytes.TrimSpace(ln); len(t) > 0 && t[0] != '#' {
				docs = append(docs, document{index: len(docs), line: first, data: cur})
				break
			}
			first++
		}
		cur, start = []byte{}, next
	}
	for i, ln := range lines {
		if docSeparator.Match(bytes.TrimRight(ln, "\r\n")) {
			flush(i + 2)
			continue
		}
		cur = append(cur, ln...)
	}
	flush(0)
	return docs
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func (l *loader) parse(file string, data []byte) error {
	for _, d := range split(data) {
		fail := func(line int, err error) error {
			return &Error{File: file, Document: d.index, Line: line, Err: err}
		}
		js, err := yaml.YAMLToJSON(d.data)
		if err != nil {
			line := d.line
			msg := err.Error()
			if m := yamlLine.FindStringSubmatchIndex(msg); m != nil {
				n, _ := strconv.Atoi(msg[m[2]:m[3]])
				line = d.line + n - 1
				msg = msg[:m[0]] + "line " + strconv.Itoa(line) + msg[m[1]:]
			}
			return fail(line, fmt.Errorf("malformed YAML: %s", msg))
		}
		if err := l.object(js, d.line, fail); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) object(js []byte, line int, fail func(int, error) error) error {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return fail(line, fmt.Errorf("not a Kubernetes object: %v", err))
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return fail(line, errors.New("not a Kubernetes object: apiVersion and kind are required"))
	}
	decode := func(into any) error {
		if err := json.Unmarshal(js, into); err != nil {
			return fail(line, fmt.Errorf("%s %s: %v", tm.APIVersion, tm.Kind, err))
		}
		return nil
	}
	gk := tm.APIVersion + "/" + tm.Kind
	switch gk {
	case "v1/List":
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := decode(&list); err != nil {
			return err
		}
		for i, item := range list.Items {
			itemFail := func(ln int, err error) error { return fail(ln, fmt.Errorf("items[%d]: %w", i, err)) }
			if err := l.object(item, line, itemFail); err != nil {
				return err
			}
		}
		return nil
	case "v1/Pod":
		p := &corev1.Pod{}
		if err := decode(p); err != nil {
			return err
		}
		defaultNamespace(&p.ObjectMeta)
		if err := l.unique("Pod", p.ObjectMeta, line, fail); err != nil {
			return err
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return nil
		}
		if p.Spec.NodeName == "" {
			l.snap.PendingPods = append(l.snap.PendingPods, p)
		} else {
			l.snap.Pods = append(l.snap.Pods, p)
		}
	case "apps/v1/Deployment":
		o := &appsv1.Deployment{}
		if err := decode(o); err != nil {
			return err
		}
		return l.expand("Deployment", o.ObjectMeta, o.Spec.Replicas, &o.Spec.Template, nil, line, fail)
	case "apps/v1/ReplicaSet":
		o := &appsv1.ReplicaSet{}
		if err := decode(o); err != nil {
			return err
		}
		return l.expand("ReplicaSet", o.ObjectMeta, o.Spec.Replicas, &o.Spec.Template, nil, line, fail)
	case "apps/v1/StatefulSet":
		o := &appsv1.StatefulSet{}
		if err := decode(o); err != nil {
			return err
		}
		return l.expand("StatefulSet", o.ObjectMeta, o.Spec.Replicas, &o.Spec.Template, o.Spec.VolumeClaimTemplates, line, fail)
	case "batch/v1/Job":
		o := &batchv1.Job{}
		if err := decode(o); err != nil {
			return err
		}
		n := int32(1)
		if o.Spec.Parallelism != nil {
			n = *o.Spec.Parallelism
		}
		if o.Spec.Completions != nil && *o.Spec.Completions < n {
			n = *o.Spec.Completions
		}
		return l.expand("Job", o.ObjectMeta, &n, &o.Spec.Template, nil, line, fail)
	case "apps/v1/DaemonSet":
		o := &appsv1.DaemonSet{}
		if err := decode(o); err != nil {
			return err
		}
		defaultNamespace(&o.ObjectMeta)
		if o.UID == "" {
			o.UID = engine.StableUID("DaemonSet", o.Namespace, o.Name)
		}
		l.snap.DaemonSets = append(l.snap.DaemonSets, o)
	case "karpenter.sh/v1/NodePool":
		o := &karpv1.NodePool{}
		if err := decode(o); err != nil {
			return err
		}
		if err := l.unique("NodePool", o.ObjectMeta, line, fail); err != nil {
			return err
		}
		l.snap.NodePools = append(l.snap.NodePools, o)
	case "karpenter.sh/v1/NodeClaim":
		o := &karpv1.NodeClaim{}
		if err := decode(o); err != nil {
			return err
		}
		l.snap.NodeClaims = append(l.snap.NodeClaims, o)
	case "v1/Node":
		o := &corev1.Node{}
		if err := decode(o); err != nil {
			return err
		}
		if err := l.unique("Node", o.ObjectMeta, line, fail); err != nil {
			return err
		}
		l.snap.Nodes = append(l.snap.Nodes, o)
	case "v1/PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		if err := decode(o); err != nil {
			return err
		}
		defaultNamespace(&o.ObjectMeta)
		l.snap.PersistentVolumeClaims = append(l.snap.PersistentVolumeClaims, o)
	case "v1/PersistentVolume":
		o := &corev1.PersistentVolume{}
		if err := decode(o); err != nil {
			return err
		}
		l.snap.PersistentVolumes = append(l.snap.PersistentVolumes, o)
	case "storage.k8s.io/v1/StorageClass":
		o := &storagev1.StorageClass{}
		if err := decode(o); err != nil {
			return err
		}
		l.snap.StorageClasses = append(l.snap.StorageClasses, o)
	case "karpenter.k8s.aws/v1/EC2NodeClass":
		return l.ec2NodeClass(js, line, fail)
	case "storage.k8s.io/v1/CSINode":
		o := &storagev1.CSINode{}
		if err := decode(o); err != nil {
			return err
		}
		l.snap.CSINodes = append(l.snap.CSINodes, o)
	case "policy/v1/PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		if err := decode(o); err != nil {
			return err
		}
		defaultNamespace(&o.ObjectMeta)
		l.snap.PodDisruptionBudgets = append(l.snap.PodDisruptionBudgets, o)
	default:
		switch {
		case strings.HasPrefix(tm.APIVersion, "karpenter.k8s.aws/") && tm.Kind == "EC2NodeClass":
			return fail(line, fmt.Errorf("%s %s is not supported: karpctl reads karpenter.k8s.aws/v1", tm.APIVersion, tm.Kind))
		case strings.HasSuffix(tm.Kind, "NodeClass"):
			return nil // another provider's configuration: its catalog stands for it
		case strings.HasPrefix(tm.APIVersion, "karpenter.sh/") && (tm.Kind == "NodePool" || tm.Kind == "NodeClaim"):
			return fail(line, fmt.Errorf("%s %s is not supported: karpctl plans with karpenter.sh/v1", tm.APIVersion, tm.Kind))
		case l.opts.SkipUnknownKinds:
			return nil
		}
		return fail(line, fmt.Errorf("unsupported kind %s (apiVersion %s): the planner reads Pods, Deployments, StatefulSets, ReplicaSets, Jobs, DaemonSets, NodePools, NodeClaims, EC2NodeClasses, Nodes, PodDisruptionBudgets and volumes", tm.Kind, tm.APIVersion))
	}
	return nil
}

// ec2NodeClass keeps an EC2NodeClass, decoded strictly: a misspelt blockDeviceMappings or
// instanceStorePolicy field would silently change the plan.
func (l *loader) ec2NodeClass(js []byte, line int, fail func(int, error) error) error {
	o := &awsv1.EC2NodeClass{}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(o); err != nil {
		return fail(line, fmt.Errorf("karpenter.k8s.aws/v1 EC2NodeClass: %v", err))
	}
	if err := l.unique("EC2NodeClass", o.ObjectMeta, line, fail); err != nil {
		return err
	}
	l.snap.EC2NodeClasses = append(l.snap.EC2NodeClasses, o)
	return nil
}

func (l *loader) unique(kind string, m metav1.ObjectMeta, line int, fail func(int, error) error) error {
	if m.Name == "" {
		return fail(line, fmt.Errorf("%s without metadata.name", kind))
	}
	k := kind + "/" + m.Namespace + "/" + m.Name
	if prev, dup := l.seen[k]; dup {
		return fail(line, fmt.Errorf("duplicate %s %s (first at %s)", kind, strings.TrimPrefix(m.Namespace+"/"+m.Name, "/"), prev))
	}
	l.seen[k] = "line " + strconv.Itoa(line)
	return nil
}

func defaultNamespace(m *metav1.ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = corev1.NamespaceDefault
	}
}

// expand turns a workload into its replicas as pending pods.
func (l *loader) expand(kind string, meta metav1.ObjectMeta, replicas *int32, tpl *corev1.PodTemplateSpec, claims []corev1.PersistentVolumeClaim, line int, fail func(int, error) error) error {
	defaultNamespace(&meta)
	if err := l.unique(kind, meta, line, fail); err != nil {
		return err
	}
	n := int32(1)
	if replicas != nil {
		n = *replicas
	}
	if kind != "Job" {
		for i, t := range l.opts.Scale {
			if t.Name == meta.Name && (t.Namespace == "" || t.Namespace == meta.Namespace) && (t.Kind == "" || strings.EqualFold(t.Kind, kind)) {
				n = t.Replicas
				l.scaleUsed[i] = true
			}
		}
	}
	if n < 0 {
		return fail(line, fmt.Errorf("%s %s: negative replicas %d", kind, meta.Name, n))
	}
	const maxReplicas = 100000
	if n > maxReplicas {
		return fail(line, fmt.Errorf("%s %s: %d replicas is more than the planner takes (%d)", kind, meta.Name, n, maxReplicas))
	}
	l.workloads++
	// replica i of the n-th workload is created n seconds + i milliseconds after engine.Epoch, so
	// Karpenter's queue order is the same on every run
	created := engine.Epoch.Add(time.Duration(l.workloads) * time.Second)
	for i := int32(0); i < n; i++ {
		p := replicaPod(kind, meta.Namespace, meta.Name, tpl, fmt.Sprintf("%s-%d", meta.Name, i),
			engine.StableUID(kind, meta.Namespace, meta.Name, strconv.Itoa(int(i))), created.Add(time.Duration(i)*time.Millisecond))
		for _, c := range claims {
			claim := c.DeepCopy()
			claim.Name = fmt.Sprintf("%s-%s-%d", c.Name, meta.Name, i)
			claim.Namespace = meta.Namespace
			claim.UID = engine.StableUID("PersistentVolumeClaim", meta.Namespace, claim.Name)
			l.snap.PersistentVolumeClaims = append(l.snap.PersistentVolumeClaims, claim)
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}})
		}
		l.snap.PendingPods = append(l.snap.PendingPods, p)
	}
	return nil
}

// replicaPod is a pending replica of the workload kind namespace/workload built from its template,
// owned as its controller would own it (a Deployment's pods by its ReplicaSet).
func replicaPod(kind, namespace, workload string, tpl *corev1.PodTemplateSpec, name string, uid types.UID, created time.Time) *corev1.Pod {
	ownerKind, ownerAPI := kind, "apps/v1"
	if kind == "Deployment" {
		ownerKind = "ReplicaSet"
	}
	if kind == "Job" {
		ownerAPI = "batch/v1"
	}
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: *tpl.ObjectMeta.DeepCopy(),
		Spec:       *tpl.Spec.DeepCopy(),
	}
	p.Name, p.Namespace, p.UID = name, namespace, uid
	p.CreationTimestamp = metav1.NewTime(created)
	p.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: ownerAPI, Kind: ownerKind, Name: workload, UID: engine.StableUID(kind, namespace, workload),
		Controller: ptr.To(true),
	}}
	p.Status.Phase = corev1.PodPending
	return p
}
