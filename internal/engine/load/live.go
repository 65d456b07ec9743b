package load

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
)

// Live is what plan and disrupt start from in a cluster: its snapshot with the -f objects on top,
// and the version of the Karpenter it runs.
type Live struct {
	Snapshot *engine.Snapshot
	// KarpenterVersion is the cluster's Karpenter's version; "" when its Deployment was not found.
	KarpenterVersion string
	// VersionSkew warns that the cluster's Karpenter is not the bundled one; "" when it is, or when
	// either version is unknown.
	VersionSkew string
}

// ReadLive reads the cluster (FromCluster; the EC2NodeClasses of files' NodePools too), merges files
// (the -f objects, nil for none) on top and finds the cluster's Karpenter as discovery.Find does with
// find, to compare its version with bundled. A missing or unreadable Karpenter Deployment only means
// that the versions are not compared.
func ReadLive(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, files *engine.Snapshot, opts ClusterOptions, find discovery.Options, bundled string) (*Live, error) {
	if files != nil {
		opts.FileNodePools = files.NodePools
	}
	snap, err := FromCluster(ctx, kube, dyn, opts)
	if err != nil {
		return nil, err
	}
	if files != nil {
		Merge(snap, files)
	}
	// A Karpenter Deployment in the files is read instead of the cluster's.
	live := &Live{Snapshot: snap}
	if k, err := discovery.Find(ctx, kube, find); err == nil {
		live.KarpenterVersion = k.Version
		live.VersionSkew = VersionSkew(k.Version, bundled)
		if snap.KarpenterDeployment == nil {
			snap.KarpenterDeployment = k.Deployment
		}
	}
	return live, nil
}

// VersionSkew is the warning for a cluster Karpenter whose version differs from the bundled
// scheduler's (ignoring a leading v); empty when they match or either is unknown.
func VersionSkew(cluster, bundled string) string {
	if match, known := discovery.VersionsMatch(cluster, bundled); match || !known {
		return ""
	}
	return fmt.Sprintf("the cluster runs Karpenter %s but this plan uses the scheduler of Karpenter %s: its decisions may differ", cluster, bundled)
}
