package load

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/engine"
)

// Merge adds src's objects to dst (the what-if "-f on top of the cluster"). A NodePool,
// EC2NodeClass, Node or Pod of src replaces dst's of the same name: the file says what the object
// would be once applied. dst stays Live if it was.
func Merge(dst, src *engine.Snapshot) {
	dst.NodePools = append(replaced(dst.NodePools, src.NodePools, metaKey), src.NodePools...)
	dst.Nodes = append(replaced(dst.Nodes, src.Nodes, metaKey), src.Nodes...)
	srcPods := append(append([]*corev1.Pod{}, src.Pods...), src.PendingPods...)
	dst.Pods = append(replaced(dst.Pods, srcPods, metaKey), src.Pods...)
	dst.PendingPods = append(replaced(dst.PendingPods, srcPods, metaKey), src.PendingPods...)
	dst.EC2NodeClasses = append(replaced(dst.EC2NodeClasses, src.EC2NodeClasses, metaKey), src.EC2NodeClasses...)
	dst.NodeOverlays = append(replaced(dst.NodeOverlays, src.NodeOverlays, metaKey), src.NodeOverlays...)
	dst.NodeClaims = append(dst.NodeClaims, src.NodeClaims...)
	dst.DaemonSets = append(dst.DaemonSets, src.DaemonSets...)
	dst.PersistentVolumeClaims = append(dst.PersistentVolumeClaims, src.PersistentVolumeClaims...)
	dst.PersistentVolumes = append(dst.PersistentVolumes, src.PersistentVolumes...)
	dst.StorageClasses = append(dst.StorageClasses, src.StorageClasses...)
	dst.CSINodes = append(dst.CSINodes, src.CSINodes...)
	dst.PodDisruptionBudgets = append(dst.PodDisruptionBudgets, src.PodDisruptionBudgets...)
	dst.ConfigMaps = append(replaced(dst.ConfigMaps, src.ConfigMaps, metaKey), src.ConfigMaps...)
	if src.KarpenterDeployment != nil {
		dst.KarpenterDeployment = src.KarpenterDeployment
	}
}

func metaKey(o metav1.Object) string { return o.GetNamespace() + "/" + o.GetName() }

// replaced returns have without the objects whose key is in by.
func replaced[T metav1.Object, U metav1.Object](have []T, by []U, key func(metav1.Object) string) []T {
	if len(by) == 0 {
		return have
	}
	gone := map[string]bool{}
	for _, o := range by {
		gone[key(o)] = true
	}
	out := make([]T, 0, len(have))
	for _, o := range have {
		if !gone[key(o)] {
			out = append(out, o)
		}
	}
	return out
}

// ScaleTarget is one `--scale [KIND/]NAME=N`.
type ScaleTarget struct {
	Kind      string // Deployment, StatefulSet or ReplicaSet; empty (files only) for any of them
	Namespace string // empty (files only) for any namespace
	Name      string
	Replicas  int32
}

func (s ScaleTarget) String() string { return s.Kind + " " + s.Namespace + "/" + s.Name }

var scaleKinds = map[string]string{
	"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
	"statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
	"replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
}

// ParseScale reads each `--scale [KIND/]NAME=N` of the workloads in namespace. Live, a target
// without KIND/ is a Deployment (and one without a namespace is in "default"); in files (live
// false) it is any of the three kinds of that name. A workload may be scaled once: live, a repeat
// would add two sets of replicas, in files the last count would win. Errors begin with the quoted
// spec.
func ParseScale(specs []string, namespace string, live bool) ([]ScaleTarget, error) {
	var out []ScaleTarget
	for _, s := range specs {
		t, err := parseScale(s, namespace)
		if err != nil {
			return nil, err
		}
		if live {
			t.Namespace, t.Kind = cmp.Or(t.Namespace, "default"), cmp.Or(t.Kind, "Deployment")
		}
		for j, prev := range out {
			if t.Name == prev.Name && (t.Kind == prev.Kind || t.Kind == "" || prev.Kind == "") {
				return nil, fmt.Errorf("%q: %s is already scaled by --scale %q; give each workload one --scale", s, t.Name, specs[j])
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// parseScale reads one [KIND/]NAME=N; Kind is empty without KIND/.
func parseScale(s, namespace string) (ScaleTarget, error) {
	bad := func(why string) (ScaleTarget, error) {
		return ScaleTarget{}, fmt.Errorf("%q: %s; want [deployment|statefulset|replicaset/]NAME=N, e.g. --scale deployment/web=10", s, why)
	}
	lhs, n, ok := strings.Cut(s, "=")
	if !ok {
		return bad("no =N")
	}
	replicas, err := strconv.ParseInt(n, 10, 32)
	if err != nil || replicas < 0 {
		return bad("N is not a replica count")
	}
	t := ScaleTarget{Namespace: namespace, Name: lhs, Replicas: int32(replicas)}
	if k, name, ok := strings.Cut(lhs, "/"); ok {
		kind, known := scaleKinds[strings.ToLower(k)]
		if !known {
			return bad("unknown kind " + k)
		}
		t.Kind, t.Name = kind, name
	}
	if t.Name == "" || strings.Contains(t.Name, "/") {
		return bad("no workload name")
	}
	return t, nil
}

// ScaleLive applies scale what-ifs to a live snapshot. Each workload is read with one GET; its pods in
// the snapshot are those of its namespace matching its selector. Scaling up adds pending replicas
// built from its template (named NAME-scale-I); scaling down removes its pending pods first, then
// its newest bound pods, as a ReplicaSet would.
func ScaleLive(ctx context.Context, kube kubernetes.Interface, snap *engine.Snapshot, targets []ScaleTarget) error {
	for _, t := range targets {
		if t.Replicas < 0 {
			return fmt.Errorf("scale %s: negative replicas %d", t, t.Replicas)
		}
		sel, tpl, err := readWorkload(ctx, kube, t)
		if err != nil {
			return err
		}
		match := func(p *corev1.Pod) bool { return p.Namespace == t.Namespace && sel.Matches(labels.Set(p.Labels)) }
		var pending, bound []int
		for i, p := range snap.PendingPods {
			if match(p) {
				pending = append(pending, i)
			}
		}
		for i, p := range snap.Pods {
			if match(p) {
				bound = append(bound, i)
			}
		}
		have := int32(len(pending) + len(bound))
		switch {
		case t.Replicas > have:
			for i := int32(0); i < t.Replicas-have; i++ {
				snap.PendingPods = append(snap.PendingPods, replicaPod(t.Kind, t.Namespace, t.Name, tpl, t.Name+"-scale-"+strconv.Itoa(int(i)),
					engine.StableUID("scale", t.Kind, t.Namespace, t.Name, strconv.Itoa(int(i))), engine.Epoch.Add(time.Duration(i)*time.Millisecond)))
			}
		case t.Replicas < have:
			drop := int(have - t.Replicas)
			gone := map[int]bool{}
			for _, i := range pending {
				if drop == 0 {
					break
				}
				gone[i] = true
				drop--
			}
			snap.PendingPods = without(snap.PendingPods, gone)
			// newest bound pods go first
			sort.SliceStable(bound, func(a, b int) bool {
				return snap.Pods[bound[a]].CreationTimestamp.After(snap.Pods[bound[b]].CreationTimestamp.Time)
			})
			gone = map[int]bool{}
			for _, i := range bound[:drop] {
				gone[i] = true
			}
			snap.Pods = without(snap.Pods, gone)
		}
	}
	return nil
}

func readWorkload(ctx context.Context, kube kubernetes.Interface, t ScaleTarget) (labels.Selector, *corev1.PodTemplateSpec, error) {
	var (
		sel *metav1.LabelSelector
		tpl *corev1.PodTemplateSpec
		err error
	)
	switch t.Kind {
	case "Deployment":
		var o *appsv1.Deployment
		if o, err = kube.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{}); err == nil {
			sel, tpl = o.Spec.Selector, &o.Spec.Template
		}
	case "StatefulSet":
		var o *appsv1.StatefulSet
		if o, err = kube.AppsV1().StatefulSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{}); err == nil {
			sel, tpl = o.Spec.Selector, &o.Spec.Template
		}
	case "ReplicaSet":
		var o *appsv1.ReplicaSet
		if o, err = kube.AppsV1().ReplicaSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{}); err == nil {
			sel, tpl = o.Spec.Selector, &o.Spec.Template
		}
	default:
		return nil, nil, fmt.Errorf("scale %s: only Deployments, StatefulSets and ReplicaSets scale", t)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil, &ScaleNotFoundError{Target: t}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %w", t, err)
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return nil, nil, fmt.Errorf("scale %s: unusable selector %v", t, sel)
	}
	return s, tpl, nil
}

// ScaleNotFoundError is a --scale naming a workload the cluster does not have.
type ScaleNotFoundError struct{ Target ScaleTarget }

func (e *ScaleNotFoundError) Error() string {
	return fmt.Sprintf("scale: no %s %s in the cluster", e.Target.Kind, e.Target.Namespace+"/"+e.Target.Name)
}

func without(pods []*corev1.Pod, gone map[int]bool) []*corev1.Pod {
	if len(gone) == 0 {
		return pods
	}
	out := make([]*corev1.Pod, 0, len(pods)-len(gone))
	for i, p := range pods {
		if !gone[i] {
			out = append(out, p)
		}
	}
	return out
}
