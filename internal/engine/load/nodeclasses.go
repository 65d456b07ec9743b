package load

import (
	"context"
	"fmt"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// NodeClasses reads what instance types depend on, read-only: the NodePools, EC2NodeClasses and
// NodeOverlays (paginated; a cluster without the AWS provider's CRD or the NodeOverlay CRD has none of
// those, the latter with a warning) and one page of the nodes that carry
// topology.kubernetes.io/region (they tell the AWS region). Pods are not read. The snapshot is Live.
func NodeClasses(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, pageSize int64) (*engine.Snapshot, error) {
	if pageSize <= 0 {
		pageSize = 500
	}
	snap := &engine.Snapshot{Live: true}
	r := &reader{ctx: ctx, pageSize: pageSize, snap: snap}
	if err := r.each(r.nodePoolListing(dyn)); err != nil {
		return nil, err
	}
	if err := r.ec2NodeClasses(dyn); err != nil {
		return nil, err
	}
	if err := r.each(r.overlayListing(dyn)); err != nil {
		return nil, err
	}
	nodes, err := kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: corev1.LabelTopologyRegion, Limit: pageSize})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		snap.Nodes = append(snap.Nodes, &nodes.Items[i])
	}
	return snap, nil
}

// DaemonSets adds the cluster's DaemonSets to snap (paginated, read-only): their pods take room on a
// new node. Forbidden or not served leaves them out with a warning in the snapshot.
func DaemonSets(ctx context.Context, kube kubernetes.Interface, pageSize int64, snap *engine.Snapshot) error {
	if pageSize <= 0 {
		pageSize = 500
	}
	r := &reader{ctx: ctx, pageSize: pageSize, snap: snap}
	return r.each(r.daemonSetListing(kube, "the fits leave out DaemonSet overhead: a type marked as fitting may have less room"))
}

// ec2NodeClasses lists the EC2NodeClasses. Without the AWS provider's CRD there are none: the plan
// then says, per NodePool referencing one, what Karpenter's NodePool status would (NodeClass not
// found). Forbidden is an error: every such NodePool would be wrongly reported without its NodeClass.
func (r *reader) ec2NodeClasses(dyn dynamic.Interface) error {
	err := r.each(listing{what: "EC2NodeClasses (grant list on ec2nodeclasses.karpenter.k8s.aws)",
		list: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return dyn.Resource(EC2NodeClassesGVR).List(ctx, o)
		}, add: func(o runtime.Object) error {
			nc := &awsv1.EC2NodeClass{}
			if err := fromUnstructured(o, nc); err != nil {
				return fmt.Errorf("EC2NodeClass %w", err)
			}
			r.snap.EC2NodeClasses = append(r.snap.EC2NodeClasses, nc)
			return nil
		}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// referencesEC2NodeClass says whether any NodePool references an EC2NodeClass (only then are they
// listed for a plan).
func referencesEC2NodeClass(nodePools []*karpv1.NodePool) bool {
	for _, np := range nodePools {
		if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil && ref.GroupKind() == engine.EC2NodeClassKind {
			return true
		}
	}
	return false
}
