package top

import (
	"context"

	"fmt"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"

	"github.com/karpctl/karpctl/internal/discovery"
)

// PodSelector is the pods top watches: every pod that is not finished. It is the union of plan's
// two pod lists (pending: status.phase=Pending,spec.nodeName=; bound: spec.nodeName!= and not
// finished), read with one LIST and one WATCH and split in memory.
const PodSelector = "status.phase!=Succeeded,status.phase!=Failed"

const (
	panelHeader    = "header"
	panelNodePools = "nodepools"
	panelNodes     = "nodes"
	panelNext      = "next"
	clusterScope   = "cluster scope"
)

var (
	nodePoolsGVR      = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	nodeClaimsGVR     = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	ec2NodeClassesGVR = schema.GroupVersionResource{Group: "karpenter.k8s.aws", Version: "v1", Resource: "ec2nodeclasses"}
	nodeOverlaysGVR   = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1alpha1", Resource: "nodeoverlays"}
)

// kinds are the informers: the kinds plan and disrupt read, plus Karpenter's Lease.
type kinds struct {
	pods, nodes, daemonSets, pvcs, pvs, storageClasses, csiNodes, pdbs *kind
	nodePools, nodeClaims, ec2NodeClasses, lease                       *kind
	// nodeOverlays is watched only when Karpenter runs with its NodeOverlay feature gate on: with
	// it off, Karpenter ignores them.
	nodeOverlays *kind
}

func (k *kinds) all() []*kind {
	out := []*kind{}
	for _, x := range []*kind{k.pods, k.nodes, k.daemonSets, k.pvcs, k.pvs, k.storageClasses, k.csiNodes, k.pdbs, k.nodePools, k.nodeClaims, k.ec2NodeClasses, k.lease, k.nodeOverlays} {
		if x != nil {
			out = append(out, x)
		}
	}
	return out
}

func newKinds(kube kubernetes.Interface, dyn dynamic.Interface, karp *discovery.Karpenter, overlays bool) *kinds {
	all := metav1.NamespaceAll
	none := metav1.ListOptions{}
	core, apps, storage, policy := kube.CoreV1(), kube.AppsV1(), kube.StorageV1(), kube.PolicyV1()
	volumes := "pending pods with PersistentVolumeClaims cannot be planned"
	k := &kinds{
		pods: newKind("pods", panelNodes, clusterScope, "", listWatch(metav1.ListOptions{FieldSelector: PodSelector},
			core.Pods(all).List, core.Pods(all).Watch), &corev1.Pod{}, nil),
		nodes: newKind("nodes", panelNodes, clusterScope, "", listWatch(none, core.Nodes().List, core.Nodes().Watch), &corev1.Node{}, nil),
		daemonSets: newKind("daemonsets.apps", panelNext, clusterScope, "the plan leaves out DaemonSet overhead",
			listWatch(none, apps.DaemonSets(all).List, apps.DaemonSets(all).Watch), &appsv1.DaemonSet{}, nil),
		pvcs: newKind("persistentvolumeclaims", panelNext, clusterScope, volumes,
			listWatch(none, core.PersistentVolumeClaims(all).List, core.PersistentVolumeClaims(all).Watch), &corev1.PersistentVolumeClaim{}, nil),
		pvs: newKind("persistentvolumes", panelNext, clusterScope, volumes,
			listWatch(none, core.PersistentVolumes().List, core.PersistentVolumes().Watch), &corev1.PersistentVolume{}, nil),
		storageClasses: newKind("storageclasses.storage.k8s.io", panelNext, clusterScope, volumes,
			listWatch(none, storage.StorageClasses().List, storage.StorageClasses().Watch), &storagev1.StorageClass{}, nil),
		csiNodes: newKind("csinodes.storage.k8s.io", panelNext, clusterScope, "volume attach limits of existing nodes are not known",
			listWatch(none, storage.CSINodes().List, storage.CSINodes().Watch), &storagev1.CSINode{}, nil),
		pdbs: newKind("poddisruptionbudgets.policy", panelNext, clusterScope, "PodDisruptionBudgets are not checked by the disruption prediction",
			listWatch(none, policy.PodDisruptionBudgets(all).List, policy.PodDisruptionBudgets(all).Watch), &policyv1.PodDisruptionBudget{}, nil),
		nodePools:  dynamicKind(dyn, nodePoolsGVR, panelNodePools, "", func() any { return &karpv1.NodePool{} }),
		nodeClaims: dynamicKind(dyn, nodeClaimsGVR, panelNodes, "NodeClaims still launching are not counted", func() any { return &karpv1.NodeClaim{} }),
		ec2NodeClasses: dynamicKind(dyn, ec2NodeClassesGVR, panelNext, "EC2NodeClass NodePools are not planned",
			func() any { return &awsv1.EC2NodeClass{} }),
	}
	if overlays {
		k.nodeOverlays = dynamicKind(dyn, nodeOverlaysGVR, panelNext, "NodeOverlays are not applied", func() any { return &v1alpha1.NodeOverlay{} })
	}
	if karp != nil && karp.LeaseName != "" && !karp.LeaderElectionDisabled {
		leases := kube.CoordinationV1().Leases(karp.LeaseNamespace)
		sel := metav1.ListOptions{FieldSelector: "metadata.name=" + karp.LeaseName}
		k.lease = newKind("leases.coordination.k8s.io", panelHeader, "namespace "+karp.LeaseNamespace, "",
			listWatch(sel, leases.List, leases.Watch), &coordinationv1.Lease{}, nil)
	}
	return k
}

// dynamicKind watches one of Karpenter's kinds (JSON, through the dynamic client) and stores it
// typed: converted once per change, not at every snapshot.
func dynamicKind(dyn dynamic.Interface, gvr schema.GroupVersionResource, panel, optional string, newObj func() any) *kind {
	r := dyn.Resource(gvr)
	lw := listWatch(metav1.ListOptions{}, func(ctx context.Context, o metav1.ListOptions) (*unstructured.UnstructuredList, error) {
		return r.List(ctx, o)
	}, r.Watch)
	return newKind(gvr.Resource+"."+gvr.Group, panel, clusterScope, optional, lw, &unstructured.Unstructured{}, func(obj any) (any, error) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return obj, nil
		}
		into := newObj()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
			return nil, fmt.Errorf("%s %s: %w", gvr.Resource, u.GetName(), err)
		}
		return stripManagedFields(into)
	})
}
