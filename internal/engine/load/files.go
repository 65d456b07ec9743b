// Package load builds engine.Snapshots: from manifest files (FromFiles) or read-only from a cluster
// (FromCluster).
package load

import (
	"fmt"
	"sort"
	"strings"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/manifest"
)

// Options tune the file loader.
type Options struct {
	// Options say how the paths are read: standard input for "-", -R.
	manifest.Options
	// Scale overrides replicas of Deployments, StatefulSets and ReplicaSets (the what-if
	// `--scale [KIND/]NAME=N`). A target with no Kind matches any of the three kinds, one with no
	// Namespace any namespace. A target that matches nothing is an error.
	Scale []ScaleTarget
	// SkipUnknownKinds ignores documents of kinds the planner does not use (Services, ConfigMaps...)
	// instead of failing on them.
	SkipUnknownKinds bool
}

// FromFiles reads manifests (package manifest: files, directories, "-" for standard input; YAML or
// JSON, multi-document, Lists) into a snapshot. Problems are *manifest.Error.
//
// Pods without a node and the replicas of Deployments, StatefulSets, ReplicaSets and Jobs become
// pending pods with stable names (NAME-i), UIDs and creation times. NodePools (karpenter.sh/v1),
// NodeClaims, Nodes, bound Pods, DaemonSets, PVCs, PVs, StorageClasses, CSINodes and EC2NodeClasses
// (karpenter.k8s.aws/v1, decoded strictly) are kept. Other NodeClass documents (any kind ending in
// NodeClass) are ignored. Anything else is an error unless SkipUnknownKinds is set.
func FromFiles(paths []string, opts Options) (*engine.Snapshot, error) {
	m, err := manifest.Read(paths, opts.Options)
	if err != nil {
		return nil, err
	}
	return fromObjects(m.Objects, opts)
}

// Parse reads one file's contents; FromFiles for in-memory data.
func Parse(name string, data []byte, opts Options) (*engine.Snapshot, error) {
	objs, err := manifest.Parse(name, data)
	if err != nil {
		return nil, err
	}
	return fromObjects(objs, opts)
}

func fromObjects(objs []manifest.Object, opts Options) (*engine.Snapshot, error) {
	l := &loader{opts: opts, snap: &engine.Snapshot{}, scaleUsed: map[int]bool{}, seen: map[string]string{}}
	for i := range objs {
		if err := l.add(&objs[i]); err != nil {
			return nil, err
		}
	}
	return l.finish()
}

type loader struct {
	opts      Options
	snap      *engine.Snapshot
	workloads int
	scaleUsed map[int]bool      // indexes of Options.Scale that matched a workload
	seen      map[string]string // kind/ns/name -> file:line, to report duplicates
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

// add keeps an object the planner uses: workloads become pending replicas, the rest is kept as it is.
func (l *loader) add(o *manifest.Object) error {
	s := l.snap
	switch o.APIVersion + "/" + o.Kind {
	case "v1/Pod":
		return l.pod(o)
	case "apps/v1/Deployment", "apps/v1/ReplicaSet", "apps/v1/StatefulSet", "batch/v1/Job":
		return l.workload(o)
	case "apps/v1/DaemonSet":
		return l.daemonSet(o)
	case "karpenter.sh/v1/NodePool":
		return keep(l, o, &s.NodePools, "NodePool", false)
	case "karpenter.sh/v1alpha1/NodeOverlay":
		return keep(l, o, &s.NodeOverlays, "NodeOverlay", false)
	case "karpenter.sh/v1/NodeClaim":
		return keep(l, o, &s.NodeClaims, "", false)
	case "v1/Node":
		return keep(l, o, &s.Nodes, "Node", false)
	case "v1/PersistentVolumeClaim":
		return keep(l, o, &s.PersistentVolumeClaims, "", true)
	case "v1/PersistentVolume":
		return keep(l, o, &s.PersistentVolumes, "", false)
	case "storage.k8s.io/v1/StorageClass":
		return keep(l, o, &s.StorageClasses, "", false)
	case "storage.k8s.io/v1/CSINode":
		return keep(l, o, &s.CSINodes, "", false)
	case "policy/v1/PodDisruptionBudget":
		return keep(l, o, &s.PodDisruptionBudgets, "", true)
	case "v1/ConfigMap":
		return keep(l, o, &s.ConfigMaps, "", true)
	case "karpenter.k8s.aws/v1/EC2NodeClass":
		return l.ec2NodeClass(o)
	}
	switch {
	case o.Group() == "karpenter.k8s.aws" && o.Kind == "EC2NodeClass":
		return o.Errorf("%s %s is not supported: karpctl reads karpenter.k8s.aws/v1", o.APIVersion, o.Kind)
	case strings.HasSuffix(o.Kind, "NodeClass"):
		return nil // another provider's configuration: its catalog stands for it
	case o.Group() == "karpenter.sh" && (o.Kind == "NodePool" || o.Kind == "NodeClaim"):
		return o.Errorf("%s %s is not supported: karpctl plans with karpenter.sh/v1", o.APIVersion, o.Kind)
	case l.opts.SkipUnknownKinds:
		return nil
	}
	return o.Errorf("unsupported kind %s (apiVersion %s): the planner reads Pods, Deployments, StatefulSets, ReplicaSets, Jobs, DaemonSets, NodePools, NodeClaims, EC2NodeClasses, Nodes, PodDisruptionBudgets and volumes", o.Kind, o.APIVersion)
}

// object is what keep decodes: a pointer to a Kubernetes type.
type object[T any] interface {
	*T
	metav1.Object
}

// keep decodes o and appends it to into; unique (a kind) rejects a second object of the same name,
// namespaced gives it the default namespace when it has none.
func keep[T any, P object[T]](l *loader, o *manifest.Object, into *[]P, unique string, namespaced bool) error {
	v := P(new(T))
	if err := o.Decode(v); err != nil {
		return err
	}
	if namespaced && v.GetNamespace() == "" {
		v.SetNamespace(corev1.NamespaceDefault)
	}
	if unique != "" {
		if err := l.unique(unique, v, o); err != nil {
			return err
		}
	}
	*into = append(*into, v)
	return nil
}

func (l *loader) pod(o *manifest.Object) error {
	p := &corev1.Pod{}
	if err := o.Decode(p); err != nil {
		return err
	}
	defaultNamespace(&p.ObjectMeta)
	if err := l.unique("Pod", p, o); err != nil {
		return err
	}
	switch {
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
	case p.Spec.NodeName == "":
		l.snap.PendingPods = append(l.snap.PendingPods, p)
	default:
		l.snap.Pods = append(l.snap.Pods, p)
	}
	return nil
}

func (l *loader) daemonSet(o *manifest.Object) error {
	ds := &appsv1.DaemonSet{}
	if err := o.Decode(ds); err != nil {
		return err
	}
	defaultNamespace(&ds.ObjectMeta)
	if ds.UID == "" {
		ds.UID = engine.StableUID("DaemonSet", ds.Namespace, ds.Name)
	}
	l.snap.DaemonSets = append(l.snap.DaemonSets, ds)
	return nil
}

// workload expands a Deployment, ReplicaSet, StatefulSet or Job into its replicas.
func (l *loader) workload(o *manifest.Object) error {
	switch o.Kind {
	case "Deployment":
		d := &appsv1.Deployment{}
		if err := o.Decode(d); err != nil {
			return err
		}
		if karpenter.IsKarpenter(d) {
			l.snap.KarpenterDeployment = d
			return nil
		}
		return l.expand(o, d.ObjectMeta, d.Spec.Replicas, &d.Spec.Template, nil)
	case "ReplicaSet":
		rs := &appsv1.ReplicaSet{}
		if err := o.Decode(rs); err != nil {
			return err
		}
		return l.expand(o, rs.ObjectMeta, rs.Spec.Replicas, &rs.Spec.Template, nil)
	case "StatefulSet":
		sts := &appsv1.StatefulSet{}
		if err := o.Decode(sts); err != nil {
			return err
		}
		return l.expand(o, sts.ObjectMeta, sts.Spec.Replicas, &sts.Spec.Template, sts.Spec.VolumeClaimTemplates)
	default:
		j := &batchv1.Job{}
		if err := o.Decode(j); err != nil {
			return err
		}
		n := int32(1)
		if j.Spec.Parallelism != nil {
			n = *j.Spec.Parallelism
		}
		if j.Spec.Completions != nil && *j.Spec.Completions < n {
			n = *j.Spec.Completions
		}
		return l.expand(o, j.ObjectMeta, &n, &j.Spec.Template, nil)
	}
}

// ec2NodeClass keeps an EC2NodeClass, decoded strictly: a misspelt blockDeviceMappings or
// instanceStorePolicy field would silently change the plan.
func (l *loader) ec2NodeClass(o *manifest.Object) error {
	nc := &awsv1.EC2NodeClass{}
	if err := o.DecodeStrict(nc); err != nil {
		return err
	}
	if err := l.unique("EC2NodeClass", nc, o); err != nil {
		return err
	}
	l.snap.EC2NodeClasses = append(l.snap.EC2NodeClasses, nc)
	return nil
}

// unique rejects an object without a name, or with the name of one read before.
func (l *loader) unique(kind string, m metav1.Object, o *manifest.Object) error {
	if m.GetName() == "" {
		return o.Errorf("%s without metadata.name", kind)
	}
	k := kind + "/" + m.GetNamespace() + "/" + m.GetName()
	if prev, dup := l.seen[k]; dup {
		return o.Errorf("duplicate %s %s (first at %s)", kind, strings.TrimPrefix(m.GetNamespace()+"/"+m.GetName(), "/"), prev)
	}
	l.seen[k] = fmt.Sprintf("%s:%d", o.File, o.Line)
	return nil
}

func defaultNamespace(m *metav1.ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = corev1.NamespaceDefault
	}
}
