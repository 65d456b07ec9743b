package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// errReadOnly is returned by every write: a plan never changes anything, not even in memory.
var errReadOnly = errors.New("karpctl engine: the snapshot client is read-only")

// snapshotClient is a read-only client.Client over in-memory objects. It replaces controller-runtime's
// fake client, whose List deep-copies every object through JSON (81.7 s to build state for 500 nodes ×
// 20 pods; BenchmarkSnapshotBuild measures this client on 1,000 × 20). Pods are indexed by namespace
// and node name, the two ways Karpenter lists them. It supports the field selectors Karpenter's
// operator indexes (operator.go setupIndexers).
type snapshotClient struct {
	scheme *runtime.Scheme
	mapper meta.RESTMapper
	// objects by kind, then by namespace/name key
	objects map[schema.GroupVersionKind]map[string]client.Object
	// order keeps List results in insertion order, for determinism
	order map[schema.GroupVersionKind][]string

	podsByNamespace map[string][]*corev1.Pod
	podsByNode      map[string][]*corev1.Pod
}

var _ client.Client = (*snapshotClient)(nil)

func newSnapshotClient() *snapshotClient {
	return &snapshotClient{
		scheme:          scheme.Scheme, // Karpenter registers its kinds here (pkg/apis/v1 init)
		mapper:          meta.NewDefaultRESTMapper(nil),
		objects:         map[schema.GroupVersionKind]map[string]client.Object{},
		order:           map[schema.GroupVersionKind][]string{},
		podsByNamespace: map[string][]*corev1.Pod{},
		podsByNode:      map[string][]*corev1.Pod{},
	}
}

func key(namespace, name string) string { return namespace + "/" + name }

// add stores obj (not a copy). Pods are indexed; adding the same key twice is an error.
func (c *snapshotClient) add(obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	if err != nil {
		return err
	}
	m := c.objects[gvk]
	if m == nil {
		m = map[string]client.Object{}
		c.objects[gvk] = m
	}
	k := key(obj.GetNamespace(), obj.GetName())
	if _, dup := m[k]; dup {
		return fmt.Errorf("duplicate %s %s", gvk.Kind, strings.TrimPrefix(k, "/"))
	}
	m[k] = obj
	c.order[gvk] = append(c.order[gvk], k)
	if p, ok := obj.(*corev1.Pod); ok {
		c.podsByNamespace[p.Namespace] = append(c.podsByNamespace[p.Namespace], p)
		c.podsByNode[p.Spec.NodeName] = append(c.podsByNode[p.Spec.NodeName], p)
	}
	return nil
}

// remove takes the objects (by kind and key) out of the store and its indexes, in one pass per
// kind; a missing object is no error.
func (c *snapshotClient) remove(objs ...client.Object) {
	gone := map[schema.GroupVersionKind]map[string]bool{}
	pods := map[string]bool{}
	for _, obj := range objs {
		gvk, err := apiutil.GVKForObject(obj, c.scheme)
		if err != nil {
			continue
		}
		k := key(obj.GetNamespace(), obj.GetName())
		if _, ok := c.objects[gvk][k]; !ok {
			continue
		}
		if gone[gvk] == nil {
			gone[gvk] = map[string]bool{}
		}
		gone[gvk][k] = true
		delete(c.objects[gvk], k)
		if _, ok := obj.(*corev1.Pod); ok {
			pods[k] = true
		}
	}
	for gvk, keys := range gone {
		c.order[gvk] = slices.DeleteFunc(c.order[gvk], func(k string) bool { return keys[k] })
	}
	if len(pods) == 0 {
		return
	}
	isGone := func(p *corev1.Pod) bool { return pods[key(p.Namespace, p.Name)] }
	for ns, ps := range c.podsByNamespace {
		c.podsByNamespace[ns] = slices.DeleteFunc(ps, isGone)
	}
	for n, ps := range c.podsByNode {
		c.podsByNode[n] = slices.DeleteFunc(ps, isGone)
	}
}

func (c *snapshotClient) Get(_ context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	if err != nil {
		return err
	}
	stored, ok := c.objects[gvk][key(k.Namespace, k.Name)]
	if !ok {
		gr := schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind) + "s"}
		return apierrors.NewNotFound(gr, k.Name)
	}
	// Get always copies: the target is caller-owned memory.
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(stored.DeepCopyObject()).Elem())
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}

func (c *snapshotClient) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := (&client.ListOptions{}).ApplyOptions(opts)
	listGVK, err := apiutil.GVKForObject(list, c.scheme)
	if err != nil {
		return err
	}
	gvk := listGVK.GroupVersion().WithKind(strings.TrimSuffix(listGVK.Kind, "List"))
	deepCopy := o.UnsafeDisableDeepCopy == nil || !*o.UnsafeDisableDeepCopy

	var candidates []client.Object
	if gvk == corev1.SchemeGroupVersion.WithKind("Pod") {
		candidates = c.podCandidates(o)
	} else {
		for _, k := range c.order[gvk] {
			candidates = append(candidates, c.objects[gvk][k])
		}
	}
	items := make([]runtime.Object, 0, len(candidates))
	for _, obj := range candidates {
		match, err := c.matches(gvk, obj, o)
		if err != nil {
			return err
		}
		if !match {
			continue
		}
		if deepCopy {
			items = append(items, obj.DeepCopyObject())
		} else {
			items = append(items, obj)
		}
	}
	if err := meta.SetList(list, items); err != nil {
		return err
	}
	list.GetObjectKind().SetGroupVersionKind(listGVK)
	return nil
}

// podCandidates narrows the pod list with the indexes before selectors are applied.
func (c *snapshotClient) podCandidates(o *client.ListOptions) []client.Object {
	var pods []*corev1.Pod
	if o.FieldSelector != nil {
		if node, ok := o.FieldSelector.RequiresExactMatch("spec.nodeName"); ok {
			return asObjects(c.podsByNode[node])
		}
	}
	if o.Namespace != "" {
		return asObjects(c.podsByNamespace[o.Namespace])
	}
	for _, k := range c.order[corev1.SchemeGroupVersion.WithKind("Pod")] {
		pods = append(pods, c.objects[corev1.SchemeGroupVersion.WithKind("Pod")][k].(*corev1.Pod))
	}
	return asObjects(pods)
}

func (c *snapshotClient) matches(gvk schema.GroupVersionKind, obj client.Object, o *client.ListOptions) (bool, error) {
	if o.Namespace != "" && obj.GetNamespace() != o.Namespace {
		return false, nil
	}
	if o.LabelSelector != nil && !o.LabelSelector.Matches(labels.Set(obj.GetLabels())) {
		return false, nil
	}
	if o.FieldSelector == nil || o.FieldSelector.Empty() {
		return true, nil
	}
	for _, r := range o.FieldSelector.Requirements() {
		v, err := fieldValue(gvk, obj, r.Field)
		if err != nil {
			return false, err
		}
		switch r.Operator {
		case "=", "==":
			if v != r.Value {
				return false, nil
			}
		case "!=":
			if v == r.Value {
				return false, nil
			}
		default:
			return false, fmt.Errorf("field selector operator %q not supported", r.Operator)
		}
	}
	return true, nil
}

// fieldValue answers the field selectors that Karpenter uses (its operator's field indexes).
func fieldValue(gvk schema.GroupVersionKind, obj client.Object, field string) (string, error) {
	switch field {
	case "metadata.name":
		return obj.GetName(), nil
	case "metadata.namespace":
		return obj.GetNamespace(), nil
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		switch field {
		case "spec.nodeName":
			return o.Spec.NodeName, nil
		case "status.phase":
			return string(o.Status.Phase), nil
		}
	case *corev1.Node:
		if field == "spec.providerID" {
			return o.Spec.ProviderID, nil
		}
	case *storagev1.VolumeAttachment:
		if field == "spec.nodeName" {
			return o.Spec.NodeName, nil
		}
	case *karpv1.NodeClaim:
		switch field {
		case "status.providerID":
			return o.Status.ProviderID, nil
		case "spec.nodeClassRef.group", "spec.nodeClassRef.kind", "spec.nodeClassRef.name":
			if o.Spec.NodeClassRef == nil {
				return "", nil
			}
			return nodeClassRefField(o.Spec.NodeClassRef, field), nil
		}
	case *karpv1.NodePool:
		switch field {
		case "spec.template.spec.nodeClassRef.group", "spec.template.spec.nodeClassRef.kind", "spec.template.spec.nodeClassRef.name":
			if o.Spec.Template.Spec.NodeClassRef == nil {
				return "", nil
			}
			return nodeClassRefField(o.Spec.Template.Spec.NodeClassRef, field), nil
		}
	}
	return "", fmt.Errorf("field selector %q on %s not supported by the snapshot client", field, gvk.Kind)
}

func nodeClassRefField(ref *karpv1.NodeClassReference, field string) string {
	switch field[strings.LastIndex(field, ".")+1:] {
	case "group":
		return ref.Group
	case "kind":
		return ref.Kind
	default:
		return ref.Name
	}
}

func (c *snapshotClient) Apply(context.Context, runtime.ApplyConfiguration, ...client.ApplyOption) error {
	return errReadOnly
}
func (c *snapshotClient) Create(context.Context, client.Object, ...client.CreateOption) error {
	return errReadOnly
}
func (c *snapshotClient) Delete(context.Context, client.Object, ...client.DeleteOption) error {
	return errReadOnly
}
func (c *snapshotClient) Update(context.Context, client.Object, ...client.UpdateOption) error {
	return errReadOnly
}
func (c *snapshotClient) Patch(context.Context, client.Object, client.Patch, ...client.PatchOption) error {
	return errReadOnly
}
func (c *snapshotClient) DeleteAllOf(context.Context, client.Object, ...client.DeleteAllOfOption) error {
	return errReadOnly
}
func (c *snapshotClient) Status() client.SubResourceWriter { return readOnlySubResource{} }
func (c *snapshotClient) SubResource(string) client.SubResourceClient {
	return readOnlySubResource{}
}
func (c *snapshotClient) Scheme() *runtime.Scheme     { return c.scheme }
func (c *snapshotClient) RESTMapper() meta.RESTMapper { return c.mapper }
func (c *snapshotClient) GroupVersionKindFor(obj runtime.Object) (schema.GroupVersionKind, error) {
	return apiutil.GVKForObject(obj, c.scheme)
}
func (c *snapshotClient) IsObjectNamespaced(obj runtime.Object) (bool, error) {
	gvk, err := apiutil.GVKForObject(obj, c.scheme)
	if err != nil {
		return false, err
	}
	switch gvk.Kind {
	case "Node", "NodePool", "NodeClaim", "PersistentVolume", "StorageClass", "CSINode", "Namespace", "VolumeAttachment", "ResourceSlice", "DeviceClass":
		return false, nil
	}
	return true, nil
}

type readOnlySubResource struct{}

func (readOnlySubResource) Get(context.Context, client.Object, client.Object, ...client.SubResourceGetOption) error {
	return errReadOnly
}
func (readOnlySubResource) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	return errReadOnly
}
func (readOnlySubResource) Update(context.Context, client.Object, ...client.SubResourceUpdateOption) error {
	return errReadOnly
}
func (readOnlySubResource) Patch(context.Context, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
	return errReadOnly
}
func (readOnlySubResource) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	return errReadOnly
}
