package load

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// ClusterOptions choose what FromCluster reads.
type ClusterOptions struct {
	// Namespaces limits the pending pods planned for; all namespaces when empty. Bound pods are always
	// read from every namespace, since they all use node capacity.
	Namespaces []string
	// PageSize of every list call; 500 when zero.
	PageSize int64
}

var (
	nodePoolsGVR  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaimsGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
)

// NewClients builds the clients FromCluster needs from a rest.Config: a typed client that speaks
// protobuf (smaller and faster for pods and nodes) and a dynamic client (JSON) for Karpenter's kinds.
// cfg is not modified.
func NewClients(cfg *rest.Config) (kubernetes.Interface, dynamic.Interface, error) {
	kube, err := cli.ClientsetFor(cfg)
	if err != nil {
		return nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(rest.CopyConfig(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("dynamic client: %w", err)
	}
	return kube, dyn, nil
}

// FromCluster reads a snapshot from a live cluster with paginated lists only — it never writes:
// pending pods (status.phase=Pending, spec.nodeName=), bound pods, nodes, DaemonSets, NodePools,
// NodeClaims, PVCs, PVs, StorageClasses and CSINodes. The snapshot is marked Live, so NodePool
// status conditions are trusted.
func FromCluster(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, opts ClusterOptions) (*engine.Snapshot, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	snap := &engine.Snapshot{Live: true}
	each := func(what string, list pager.ListPageFunc, sel metav1.ListOptions, fn func(runtime.Object) error) error {
		p := pager.New(list)
		p.PageSize = opts.PageSize
		if err := p.EachListItem(ctx, sel, fn); err != nil {
			return fmt.Errorf("listing %s: %w", what, err)
		}
		return nil
	}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		err := each("pending pods", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Pods(ns).List(ctx, o)
		}, metav1.ListOptions{FieldSelector: "status.phase=Pending,spec.nodeName="}, func(o runtime.Object) error {
			if p := o.(*corev1.Pod); p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending && p.DeletionTimestamp == nil {
				snap.PendingPods = append(snap.PendingPods, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	err := each("bound pods", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
	}, metav1.ListOptions{FieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"}, func(o runtime.Object) error {
		if p := o.(*corev1.Pod); p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			snap.Pods = append(snap.Pods, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	steps := []struct {
		what string
		list pager.ListPageFunc
		add  func(runtime.Object)
	}{
		{"nodes", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Nodes().List(ctx, o)
		},
			func(o runtime.Object) { snap.Nodes = append(snap.Nodes, o.(*corev1.Node)) }},
		{"daemonsets", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, o)
		}, func(o runtime.Object) { snap.DaemonSets = append(snap.DaemonSets, o.(*appsv1.DaemonSet)) }},
		{"persistentvolumeclaims", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, o)
		}, func(o runtime.Object) {
			snap.PersistentVolumeClaims = append(snap.PersistentVolumeClaims, o.(*corev1.PersistentVolumeClaim))
		}},
		{"persistentvolumes", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().PersistentVolumes().List(ctx, o)
		}, func(o runtime.Object) {
			snap.PersistentVolumes = append(snap.PersistentVolumes, o.(*corev1.PersistentVolume))
		}},
		{"storageclasses", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.StorageV1().StorageClasses().List(ctx, o)
		}, func(o runtime.Object) { snap.StorageClasses = append(snap.StorageClasses, o.(*storagev1.StorageClass)) }},
		{"csinodes", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.StorageV1().CSINodes().List(ctx, o)
		}, func(o runtime.Object) { snap.CSINodes = append(snap.CSINodes, o.(*storagev1.CSINode)) }},
	}
	for _, s := range steps {
		if err := each(s.what, s.list, metav1.ListOptions{}, func(o runtime.Object) error { s.add(o); return nil }); err != nil {
			return nil, err
		}
	}

	err = each("NodePools", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return dyn.Resource(nodePoolsGVR).List(ctx, o)
	}, metav1.ListOptions{}, func(o runtime.Object) error {
		np := &karpv1.NodePool{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.(*unstructured.Unstructured).Object, np); err != nil {
			return fmt.Errorf("NodePool %s: %w", o.(*unstructured.Unstructured).GetName(), err)
		}
		snap.NodePools = append(snap.NodePools, np)
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the cluster serves no karpenter.sh/v1 NodePools (is Karpenter v1 installed?): %w", err)
	}
	if err != nil {
		return nil, err
	}
	err = each("NodeClaims", func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return dyn.Resource(nodeClaimsGVR).List(ctx, o)
	}, metav1.ListOptions{}, func(o runtime.Object) error {
		nc := &karpv1.NodeClaim{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.(*unstructured.Unstructured).Object, nc); err != nil {
			return fmt.Errorf("NodeClaim %s: %w", o.(*unstructured.Unstructured).GetName(), err)
		}
		snap.NodeClaims = append(snap.NodeClaims, nc)
		return nil
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	return snap, nil
}
