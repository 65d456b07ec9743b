package drill

import (
	"context"
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/load"
	"github.com/karpctl/karpctl/internal/lease"
)

// Client is everything a drill reads, watches and changes. Kube implements it over client-go; the
// narrow surface is also the list of what a drill can touch.
type Client interface {
	// Allowed asks the API server (SelfSubjectAccessReview) whether the caller may do a.
	Allowed(ctx context.Context, a authorizationv1.ResourceAttributes) (bool, string, error)
	Lease(ctx context.Context, ns, name string) (*coordinationv1.Lease, error) // nil when missing
	CreateLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error)
	DeleteLease(ctx context.Context, ns, name string, uid types.UID) error
	WatchLease(ctx context.Context, ns, name, resourceVersion string) (watch.Interface, error)
	Pods(ctx context.Context, ns, selector string) (*corev1.PodList, error)
	WatchPods(ctx context.Context, ns, selector, resourceVersion string) (watch.Interface, error)
	PDBs(ctx context.Context, ns string) ([]policyv1.PodDisruptionBudget, error)
	Evict(ctx context.Context, ns, pod string) error
	DeletePod(ctx context.Context, ns, pod string, grace int64) error
	// Nodes lists nodes by label selector; callers always pass one (never a cluster-wide list).
	Nodes(ctx context.Context, selector string) ([]corev1.Node, error)
	// Node gets one node by name, nil when it does not exist.
	Node(ctx context.Context, name string) (*corev1.Node, error)
	PatchNode(ctx context.Context, name string, mergePatch []byte) error
	// DeleteNode deletes a node (a probe's node whose NodeClaim is gone); NotFound is success.
	DeleteNode(ctx context.Context, name string) error

	// For the provisioning probe (--probe):
	CreatePod(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error)
	// NodePools lists Karpenter's NodePools.
	NodePools(ctx context.Context) ([]*karpv1.NodePool, error)
	// NodeClaims lists NodeClaims by label selector and returns the list's resourceVersion.
	NodeClaims(ctx context.Context, selector string) ([]karpv1.NodeClaim, string, error)
	// WatchNodeClaims delivers *karpv1.NodeClaim objects.
	WatchNodeClaims(ctx context.Context, selector, resourceVersion string) (watch.Interface, error)
	PatchNodeClaim(ctx context.Context, name string, mergePatch []byte) error
	DeleteNodeClaim(ctx context.Context, name string) error
	// Events lists events in ns by field selector.
	Events(ctx context.Context, ns, fieldSelector string) (*corev1.EventList, error)
	// WatchEvents watches events in ns by field selector from resourceVersion.
	WatchEvents(ctx context.Context, ns, fieldSelector, resourceVersion string) (watch.Interface, error)
	// Snapshot reads the cluster the way `plan` does, for Karpenter's scheduler (engine.Plan).
	Snapshot(ctx context.Context) (*engine.Snapshot, error)
}

// Kube is the Client over a clientset, and a dynamic client for Karpenter's NodePools and NodeClaims.
type Kube struct {
	C kubernetes.Interface
	D dynamic.Interface
}

// GVRs of Karpenter's objects the probe reads and cleans up.
var (
	NodePoolResource  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	NodeClaimResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
)

func (k Kube) CreatePod(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	got, err := k.C.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return got, nil
}

func (k Kube) NodePools(ctx context.Context) ([]*karpv1.NodePool, error) {
	l, err := k.D.Resource(NodePoolResource).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil // Karpenter's CRDs are not installed: no NodePools
	}
	if err != nil {
		return nil, fmt.Errorf("listing NodePools: %w", err)
	}
	out := make([]*karpv1.NodePool, 0, len(l.Items))
	for i := range l.Items {
		np := &karpv1.NodePool{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, np); err != nil {
			return nil, fmt.Errorf("decoding NodePool %s: %w", l.Items[i].GetName(), err)
		}
		out = append(out, np)
	}
	return out, nil
}

func (k Kube) NodeClaims(ctx context.Context, sel string) ([]karpv1.NodeClaim, string, error) {
	var out []karpv1.NodeClaim
	rv, err := discovery.EachPage(ctx, metav1.ListOptions{LabelSelector: sel}, 0, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return k.D.Resource(NodeClaimResource).List(ctx, o)
	}, func(o runtime.Object) error {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("unexpected %T", o)
		}
		var nc karpv1.NodeClaim
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &nc); err != nil {
			return fmt.Errorf("decoding NodeClaim %s: %w", u.GetName(), err)
		}
		out = append(out, nc)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("listing NodeClaims (%s): %w", sel, err)
	}
	return out, rv, nil
}

func (k Kube) WatchNodeClaims(ctx context.Context, sel, rv string) (watch.Interface, error) {
	w, err := k.D.Resource(NodeClaimResource).Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
	if err != nil {
		return nil, err
	}
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if u, ok := e.Object.(*unstructured.Unstructured); ok && e.Type != watch.Error {
			nc := &karpv1.NodeClaim{}
			if runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, nc) == nil {
				e.Object = nc
			}
		}
		return e, true
	}), nil
}

func (k Kube) PatchNodeClaim(ctx context.Context, name string, patch []byte) error {
	if _, err := k.D.Resource(NodeClaimResource).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patching NodeClaim %s: %w", name, err)
	}
	return nil
}

func (k Kube) DeleteNodeClaim(ctx context.Context, name string) error {
	err := k.D.Resource(NodeClaimResource).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting NodeClaim %s: %w", name, err)
	}
	return nil
}

func (k Kube) DeleteNode(ctx context.Context, name string) error {
	if err := k.C.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", name, err)
	}
	return nil
}

func (k Kube) Events(ctx context.Context, ns, sel string) (*corev1.EventList, error) {
	l, err := k.C.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing events in %s (%s): %w", ns, sel, err)
	}
	return l, nil
}

func (k Kube) WatchEvents(ctx context.Context, ns, sel, rv string) (watch.Interface, error) {
	return k.C.CoreV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
}

func (k Kube) Snapshot(ctx context.Context) (*engine.Snapshot, error) {
	return load.FromCluster(ctx, k.C, k.D, load.ClusterOptions{})
}

func (k Kube) Allowed(ctx context.Context, a authorizationv1.ResourceAttributes) (bool, string, error) {
	r, err := k.C.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &a}}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("asking whether we may %s %s: %w", a.Verb, resourceName(a), err)
	}
	return r.Status.Allowed, r.Status.Reason, nil
}

func (k Kube) Lease(ctx context.Context, ns, name string) (*coordinationv1.Lease, error) {
	return lease.GetLease(ctx, k.C, ns, name)
}

func (k Kube) CreateLease(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	return k.C.CoordinationV1().Leases(l.Namespace).Create(ctx, l, metav1.CreateOptions{})
}

func (k Kube) DeleteLease(ctx context.Context, ns, name string, uid types.UID) error {
	opts := metav1.DeleteOptions{}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := k.C.CoordinationV1().Leases(ns).Delete(ctx, name, opts)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (k Kube) WatchLease(ctx context.Context, ns, name, rv string) (watch.Interface, error) {
	return k.C.CoordinationV1().Leases(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv, AllowWatchBookmarks: true})
}

func (k Kube) Pods(ctx context.Context, ns, sel string) (*corev1.PodList, error) {
	l, err := k.C.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing Karpenter pods in %s (%s): %w", ns, sel, err)
	}
	return l, nil
}

func (k Kube) WatchPods(ctx context.Context, ns, sel, rv string) (watch.Interface, error) {
	return k.C.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
}

func (k Kube) PDBs(ctx context.Context, ns string) ([]policyv1.PodDisruptionBudget, error) {
	l, err := k.C.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing PodDisruptionBudgets in %s: %w", ns, err)
	}
	return l.Items, nil
}

func (k Kube) Evict(ctx context.Context, ns, pod string) error {
	return k.C.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod}})
}

func (k Kube) DeletePod(ctx context.Context, ns, pod string, grace int64) error {
	return k.C.CoreV1().Pods(ns).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &grace})
}

func (k Kube) Nodes(ctx context.Context, sel string) ([]corev1.Node, error) {
	var out []corev1.Node
	_, err := discovery.EachPage(ctx, metav1.ListOptions{LabelSelector: sel}, 0, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return k.C.CoreV1().Nodes().List(ctx, o)
	}, func(o runtime.Object) error {
		n, ok := o.(*corev1.Node)
		if !ok {
			return fmt.Errorf("unexpected %T", o)
		}
		out = append(out, *n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing nodes (%s): %w", sel, err)
	}
	return out, nil
}

func (k Kube) Node(ctx context.Context, name string) (*corev1.Node, error) {
	n, err := k.C.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading node %s: %w", name, err)
	}
	return n, nil
}

func (k Kube) PatchNode(ctx context.Context, name string, patch []byte) error {
	_, err := k.C.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("patching node %s: %w", name, err)
	}
	return nil
}

func resourceName(a authorizationv1.ResourceAttributes) string {
	s := a.Resource
	if a.Subresource != "" {
		s += "/" + a.Subresource
	}
	if a.Group != "" {
		s += "." + a.Group
	}
	return s
}
