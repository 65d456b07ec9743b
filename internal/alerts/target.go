package alerts

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// ErrLeaderElectionDisabled means the Karpenter found runs without leader election: there is no
// lease to alert on.
var ErrLeaderElectionDisabled = errors.New("leader election is disabled")

// Offline completes o for a Karpenter described by flags alone: in namespace ns, its lease named
// leaseName unless o.LeaseName is set ("" for the default). It returns the options with Karpenter's
// defaults and a description of the installation for the rules' header.
func Offline(o Options, ns, leaseName string) (Options, string) {
	o.Namespace = ns
	if o.LeaseName == "" {
		o.LeaseName = leaseName
	}
	return o.forReplicas(DefaultReplicas), fmt.Sprintf("Karpenter in namespace %s (given, not read from a cluster)", ns)
}

// ForKarpenter completes o for the Karpenter k found in a cluster: its namespace, Deployment and
// lease name (unless o.LeaseName is set), the lease's own duration (read with one GET unless
// o.LeaseDuration is set) and the switch threshold for its replicas. It returns the options with
// Karpenter's defaults for the rest and a description of the installation for the rules' header.
func ForKarpenter(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter, o Options) (Options, string, error) {
	if k.LeaderElectionDisabled {
		return o, "", fmt.Errorf("%w (DISABLE_LEADER_ELECTION=true on %s/%s): there is no lease to alert on; --offline generates the rules anyway", ErrLeaderElectionDisabled, k.Namespace, k.Name)
	}
	o.Namespace, o.Deployment = k.Namespace, k.Name
	if o.LeaseName == "" {
		o.LeaseName = k.LeaseName
	}
	replicas := int32(DefaultReplicas)
	if k.Deployment != nil && k.Deployment.Spec.Replicas != nil {
		replicas = *k.Deployment.Spec.Replicas
	}
	where := fmt.Sprintf("Karpenter %s/%s (%d replicas), lease %s/%s", k.Namespace, k.Name, replicas, k.LeaseNamespace, k.LeaseName)
	if k.Deployment == nil {
		where = fmt.Sprintf("the Karpenter of lease %s/%s (no Deployment found)", k.LeaseNamespace, k.LeaseName)
	}
	if o.LeaseDuration == 0 {
		l, err := lease.GetLease(ctx, c, k.LeaseNamespace, k.LeaseName)
		if err != nil {
			return o, "", err
		}
		ref := k.LeaseNamespace + "/" + k.LeaseName
		if l == nil {
			o.LeaseDurationSource = "default: Lease " + ref + " does not exist yet"
		} else if d, set := lease.Duration(l); !set {
			o.LeaseDurationSource = "default: Lease " + ref + " has no leaseDurationSeconds"
		} else {
			o.LeaseDuration, o.LeaseDurationSource = d, "leaseDurationSeconds of Lease "+ref
		}
	}
	return o.forReplicas(replicas), where, nil
}

// forReplicas sets the default switch threshold for that many replicas unless one is set, then
// Karpenter's defaults for every other zero field.
func (o Options) forReplicas(replicas int32) Options {
	if o.SwitchThreshold == 0 {
		o.SwitchThreshold = DefaultSwitchThreshold(replicas)
	}
	return o.WithDefaults()
}
