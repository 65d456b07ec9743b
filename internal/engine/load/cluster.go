package load

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/pager"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"

	"github.com/karpctl/karpctl/internal/engine"
)

// ClusterOptions choose what FromCluster reads.
type ClusterOptions struct {
	// Namespaces limits the pending pods planned for; all namespaces when empty. Bound pods are always
	// read from every namespace, since they all use node capacity.
	Namespaces []string
	// PageSize of every list call; 500 when zero.
	PageSize int64
	// FileNodePools are NodePools that will be merged on top (-f): their EC2NodeClasses are read too.
	FileNodePools []*karpv1.NodePool
	// Disruption also reads what Karpenter's disruption methods need beyond provisioning:
	// PodDisruptionBudgets.
	Disruption bool
}

var (
	nodePoolsGVR  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaimsGVR = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	overlaysGVR   = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1alpha1", Resource: "nodeoverlays"}
	// EC2NodeClassesGVR is the AWS provider's NodeClass resource.
	EC2NodeClassesGVR = schema.GroupVersionResource{Group: "karpenter.k8s.aws", Version: "v1", Resource: "ec2nodeclasses"}
)

// FromCluster reads a snapshot from a live cluster with paginated lists only — it never writes:
// pending pods (status.phase=Pending, spec.nodeName=), bound pods, nodes, DaemonSets, NodePools,
// NodeClaims, EC2NodeClasses (when a NodePool references one), PVCs, PVs, StorageClasses and
// CSINodes. The snapshot is marked Live, so NodePool and NodeClass status conditions are trusted.
//
// A list whose continue token expires mid-way (410, the API server compacted its history) is read
// again in one request, as client-go's pager does. Pods, nodes and NodePools are required; a kind
// the plan can do without (DaemonSets, NodeClaims, volumes) that is forbidden or not served is left
// out with a warning saying what the plan loses, unless a pending pod needs it.
func FromCluster(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, opts ClusterOptions) (*engine.Snapshot, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = 500
	}
	snap := &engine.Snapshot{Live: true}
	r := &reader{ctx: ctx, pageSize: opts.PageSize, snap: snap}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	for _, ns := range namespaces {
		err := r.each(listing{what: "pending pods", list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Pods(ns).List(ctx, o)
		}, sel: metav1.ListOptions{FieldSelector: "status.phase=Pending,spec.nodeName="}, add: func(o runtime.Object) error {
			// Pods being deleted are kept: the engine decides, as Karpenter does, which of them count.
			if p := o.(*corev1.Pod); p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending {
				snap.PendingPods = append(snap.PendingPods, p)
			}
			return nil
		}})
		if err != nil {
			return nil, err
		}
	}
	listings := r.coreListings(kube)
	if opts.Disruption {
		listings = append(listings, r.pdbListing(kube))
	}
	for _, l := range listings {
		if err := r.each(l); err != nil {
			return nil, err
		}
	}
	for _, l := range r.karpenterListings(dyn) {
		if err := r.each(l); err != nil {
			return nil, err
		}
	}
	if err := r.checkVolumes(); err != nil {
		return nil, err
	}
	if referencesEC2NodeClass(snap.NodePools) || referencesEC2NodeClass(opts.FileNodePools) {
		if err := r.ec2NodeClasses(dyn); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// listing is one paginated list and what the snapshot does with each item.
type listing struct {
	what string
	list pager.ListPageFunc
	sel  metav1.ListOptions
	add  func(runtime.Object) error
	// optional, when set, is what the plan loses without this kind: a forbidden or not served kind is
	// then a warning, not an error. resource names it for RBAC (e.g. "daemonsets.apps").
	optional, resource string
	// notServed is the error for a required kind the cluster does not serve.
	notServed string
}

type reader struct {
	ctx      context.Context
	pageSize int64
	snap     *engine.Snapshot
	// skipped are the optional kinds left out, by resource.
	skipped map[string]error
}

func (r *reader) each(l listing) error {
	p := pager.New(l.list)
	p.PageSize = r.pageSize
	// List (not EachListItem) falls back to one full list when a continue token has expired.
	list, _, err := p.List(r.ctx, l.sel)
	if err == nil {
		err = meta.EachListItem(list, l.add)
	}
	switch {
	case err == nil:
		return nil
	case l.optional != "" && (apierrors.IsForbidden(err) || apierrors.IsNotFound(err)):
		why := "forbidden: grant list on " + l.resource + " at cluster scope"
		if apierrors.IsNotFound(err) {
			why = "not served by this cluster"
		}
		if r.skipped == nil {
			r.skipped = map[string]error{}
		}
		r.skipped[l.resource] = err
		r.snap.Warnings = append(r.snap.Warnings, engine.Warning{Message: fmt.Sprintf("%s not read (%s): %s", l.resource, why, l.optional)})
		return nil
	case l.notServed != "" && apierrors.IsNotFound(err):
		return fmt.Errorf("%s: %w", l.notServed, err)
	default:
		return fmt.Errorf("listing %s: %w", l.what, err)
	}
}

func (r *reader) coreListings(kube kubernetes.Interface) []listing {
	snap := r.snap
	return []listing{
		{what: "bound pods", list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		}, sel: metav1.ListOptions{FieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"}, add: func(o runtime.Object) error {
			if p := o.(*corev1.Pod); p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				snap.Pods = append(snap.Pods, p)
			}
			return nil
		}},
		// Nodes after pods: a node deleted in between leaves pods bound to a node that no longer
		// exists, which Karpenter ignores too; a node created in between has no pods yet.
		{what: "nodes", list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.CoreV1().Nodes().List(ctx, o)
		}, add: func(o runtime.Object) error { snap.Nodes = append(snap.Nodes, o.(*corev1.Node)); return nil }},
		r.daemonSetListing(kube, "the plan leaves out DaemonSet overhead, so Karpenter may choose larger nodes than planned"),
		{what: "persistentvolumeclaims", resource: "persistentvolumeclaims", optional: volumesLost,
			list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kube.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, o)
			}, add: func(o runtime.Object) error {
				snap.PersistentVolumeClaims = append(snap.PersistentVolumeClaims, o.(*corev1.PersistentVolumeClaim))
				return nil
			}},
		{what: "persistentvolumes", resource: "persistentvolumes", optional: volumesLost,
			list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kube.CoreV1().PersistentVolumes().List(ctx, o)
			}, add: func(o runtime.Object) error {
				snap.PersistentVolumes = append(snap.PersistentVolumes, o.(*corev1.PersistentVolume))
				return nil
			}},
		{what: "storageclasses", resource: "storageclasses.storage.k8s.io", optional: volumesLost,
			list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kube.StorageV1().StorageClasses().List(ctx, o)
			}, add: func(o runtime.Object) error {
				snap.StorageClasses = append(snap.StorageClasses, o.(*storagev1.StorageClass))
				return nil
			}},
		{what: "csinodes", resource: "csinodes.storage.k8s.io", optional: "volume attach limits of existing nodes are not known, so the plan may put more volumes on a node than it can attach",
			list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return kube.StorageV1().CSINodes().List(ctx, o)
			}, add: func(o runtime.Object) error {
				snap.CSINodes = append(snap.CSINodes, o.(*storagev1.CSINode))
				return nil
			}},
	}
}

func (r *reader) pdbListing(kube kubernetes.Interface) listing {
	snap := r.snap
	return listing{what: "poddisruptionbudgets", resource: "poddisruptionbudgets.policy",
		optional: "PodDisruptionBudgets are not checked, so disruption may propose evictions Karpenter would not make",
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, o)
		}, add: func(o runtime.Object) error {
			snap.PodDisruptionBudgets = append(snap.PodDisruptionBudgets, o.(*policyv1.PodDisruptionBudget))
			return nil
		}}
}

const volumesLost = "pending pods with PersistentVolumeClaims cannot be planned"

func (r *reader) karpenterListings(dyn dynamic.Interface) []listing {
	snap := r.snap
	return []listing{
		r.nodePoolListing(dyn),
		{what: "NodeClaims", resource: "nodeclaims.karpenter.sh", optional: "NodeClaims still launching are not counted, so the plan may launch capacity Karpenter already has in flight",
			list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return dyn.Resource(nodeClaimsGVR).List(ctx, o)
			}, add: func(o runtime.Object) error {
				nc := &karpv1.NodeClaim{}
				if err := fromUnstructured(o, nc); err != nil {
					return fmt.Errorf("NodeClaim %w", err)
				}
				snap.NodeClaims = append(snap.NodeClaims, nc)
				return nil
			}},
		r.overlayListing(dyn),
	}
}

// overlayListing lists the NodeOverlays (karpenter.sh/v1alpha1); without the CRD or the grant they
// are left out with a warning.
func (r *reader) overlayListing(dyn dynamic.Interface) listing {
	return listing{what: "NodeOverlays", resource: "nodeoverlays.karpenter.sh", optional: "NodeOverlays are not applied",
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return dyn.Resource(overlaysGVR).List(ctx, o)
		}, add: func(o runtime.Object) error {
			no := &v1alpha1.NodeOverlay{}
			if err := fromUnstructured(o, no); err != nil {
				return fmt.Errorf("NodeOverlay %w", err)
			}
			r.snap.NodeOverlays = append(r.snap.NodeOverlays, no)
			return nil
		}}
}

// daemonSetListing lists the DaemonSets, whose pods Karpenter counts on every node they would run on;
// lost says what the answer loses when they cannot be read.
func (r *reader) daemonSetListing(kube kubernetes.Interface, lost string) listing {
	return listing{what: "daemonsets", resource: "daemonsets.apps", optional: lost,
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return kube.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, o)
		}, add: func(o runtime.Object) error {
			r.snap.DaemonSets = append(r.snap.DaemonSets, o.(*appsv1.DaemonSet))
			return nil
		}}
}

// nodePoolListing lists the NodePools, the one Karpenter kind every snapshot needs.
func (r *reader) nodePoolListing(dyn dynamic.Interface) listing {
	snap := r.snap
	return listing{what: "NodePools", notServed: "the cluster serves no karpenter.sh/v1 NodePools (is Karpenter v1 installed?)",
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return dyn.Resource(nodePoolsGVR).List(ctx, o)
		}, add: func(o runtime.Object) error {
			np := &karpv1.NodePool{}
			if err := fromUnstructured(o, np); err != nil {
				return fmt.Errorf("NodePool %w", err)
			}
			snap.NodePools = append(snap.NodePools, np)
			return nil
		}}
}

func fromUnstructured(o runtime.Object, into any) error {
	u := o.(*unstructured.Unstructured)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		return fmt.Errorf("%s: %w", u.GetName(), err)
	}
	return nil
}

// checkVolumes fails where a volume kind could not be read but a pending pod needs it: Karpenter
// would place such a pod by its volumes' topology, which the plan then cannot know.
func (r *reader) checkVolumes() error {
	for _, res := range []string{"persistentvolumeclaims", "persistentvolumes", "storageclasses.storage.k8s.io"} {
		err, skipped := r.skipped[res]
		if !skipped {
			continue
		}
		for _, p := range r.snap.PendingPods {
			for _, v := range p.Spec.Volumes {
				if v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
					return fmt.Errorf("pending pod %s/%s mounts a PersistentVolumeClaim, but listing %s failed: %w", p.Namespace, p.Name, res, err)
				}
			}
		}
	}
	return nil
}
