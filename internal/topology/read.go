package topology

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

var nodesResource = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}

// nodeInventory lists every node's metadata in pages of chunk nodes (kubectl's 500 when 0).
func nodeInventory(ctx context.Context, md metadata.Interface, chunk int64) ([]metav1.PartialObjectMetadata, error) {
	var out []metav1.PartialObjectMetadata
	_, err := discovery.EachPage(ctx, metav1.ListOptions{}, chunk, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return md.Resource(nodesResource).List(ctx, o)
	}, func(o runtime.Object) error {
		m, ok := o.(*metav1.PartialObjectMetadata)
		if !ok {
			return fmt.Errorf("node inventory: unexpected %T", o)
		}
		out = append(out, *m)
		return nil
	})
	return out, err
}

// Read gathers a live Input for k. Its API cost does not grow with the cluster, except for one
// metadata-only node list (the zone inventory):
//
//	pods by selector (1) + node metadata (1 per 500 nodes; it also gives the replicas' nodes)
//	+ PDBs in Karpenter's namespace (1) + the Lease (1, unless leader election is disabled)
//	+ FlowSchemas (1, only when the namespace is not kube-system)
//	+ with --system-node-selector: the pods on each replica's node (1 per distinct node).
//
// Discovery of the Deployment (discovery.Find) is one more list, made by the caller.
// Nothing is ever written.
func Read(ctx context.Context, c kubernetes.Interface, md metadata.Interface, k *discovery.Karpenter, o Options) (Input, error) {
	if k.Deployment == nil {
		return Input{}, fmt.Errorf("%w: no Karpenter Deployment to audit (only --lease matched)", discovery.ErrNotFound)
	}
	in := Input{Mode: "live", Deployment: k.Deployment}
	var err error
	if in.Pods, err = k.Pods(ctx, c); err != nil {
		return Input{}, err
	}
	in.PodsRead = true
	names := discovery.NodeNames(in.Pods)
	// The replicas' nodes are looked up in the inventory: the audit (and lease.Evaluate) read only
	// their labels and owners, which the metadata carries.
	if in.Inventory, err = nodeInventory(ctx, md, o.ChunkSize); err != nil {
		return Input{}, fmt.Errorf("listing node metadata (zone inventory): %w", err)
	}
	in.InventoryRead = true

	pdbs, err := c.PolicyV1().PodDisruptionBudgets(k.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Input{}, fmt.Errorf("listing PodDisruptionBudgets in %s: %w", k.Namespace, err)
	}
	in.PDBs, in.PDBsRead = pdbs.Items, true

	if !k.LeaderElectionDisabled {
		if in.Lease, err = lease.GetLease(ctx, c, k.LeaseNamespace, k.LeaseName); err != nil {
			return Input{}, err
		}
		in.LeaseRead = true
	}

	if k.Namespace != "kube-system" {
		fs, err := c.FlowcontrolV1().FlowSchemas().List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
			in.FlowSchemasErr = fmt.Sprintf("listing FlowSchemas: %s", apierrors.ReasonForError(err))
		case err != nil:
			return Input{}, fmt.Errorf("listing FlowSchemas: %w", err)
		default:
			in.FlowSchemas, in.FlowSchemasRead = fs.Items, true
		}
	}

	if o.SystemNodes != nil {
		in.NodePods = map[string][]corev1.Pod{}
		for _, n := range names {
			list, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", n).String()})
			if err != nil {
				return Input{}, fmt.Errorf("listing pods on node %s: %w", n, err)
			}
			in.NodePods[n] = list.Items
		}
		in.NodePodsRead = true
	}
	return in, nil
}
