package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	nodeutils "sigs.k8s.io/karpenter/pkg/utils/node"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
)

// A cluster in motion always holds objects half-way through a change: pods bound to nodes that were
// deleted, pods held in Terminating, NodeClaims still launching or being deleted. Karpenter's
// informers feed all of them to its cluster state, which tolerates each (it skips a pod whose node it
// does not know and retries it later, counts a launching NodeClaim as in-flight capacity, ...), and
// provisioning goes on. The plan feeds them the same way and says, one line per kind, what it found
// and how Karpenter treats it; none of them is an error.

// strayKind is one way an object can be caught mid-change.
type strayKind int

const (
	podOnMissingNode strayKind = iota
	podNotTracked
	podBoundWhileRead
	podTerminating
	pendingTerminatingPlanned
	pendingTerminatingIgnored
	nodeNotRegistered
	nodeUnavailable
	nodeWithoutNodeClaim
	nodeClaimLaunching
	nodeClaimDeleting
	daemonSetRolling
)

// strayMessages say, for a count and an example, what Karpenter does with the objects of a kind.
var strayMessages = map[strayKind]string{
	podOnMissingNode:          "%d pods are bound to nodes that no longer exist (e.g. %s); ignored until the pod garbage collector removes them, as Karpenter does",
	podNotTracked:             "%d bound pods could not be added to their nodes' usage (e.g. %s); Karpenter retries them and plans without them meanwhile",
	podBoundWhileRead:         "%d pods were bound to a node while karpctl read the cluster (e.g. %s); planned as bound",
	podTerminating:            "%d bound pods are terminating (e.g. %s); Karpenter counts their requests on their nodes until they are gone",
	pendingTerminatingPlanned: "%d pending pods are being deleted but still marked Unschedulable (e.g. %s); Karpenter still provisions for them, and so does the plan",
	pendingTerminatingIgnored: "%d pending pods are being deleted and were never marked Unschedulable (e.g. %s); kube-scheduler no longer tries them, so Karpenter does not provision for them",
	nodeNotRegistered:         "%d Karpenter nodes are not registered yet (e.g. %s); Karpenter does not track them, or the pods bound to them, until they are",
	nodeUnavailable:           "%d nodes are cordoned or not Ready (e.g. %s); Karpenter keeps counting their pods and places pending pods on them only where their taints allow",
	nodeWithoutNodeClaim:      "%d Karpenter nodes have no NodeClaim (e.g. %s); Karpenter counts them as existing capacity but does not manage them",
	nodeClaimLaunching:        "%d NodeClaims are launching, with no Node yet (e.g. %s); Karpenter counts them as in-flight capacity that pending pods may go to",
	nodeClaimDeleting:         "%d NodeClaims are being deleted (e.g. %s); Karpenter places no pod on them and provisions again for the pods they still hold",
	daemonSetRolling:          "%d DaemonSets are rolling out (e.g. %s); Karpenter sizes new nodes for the newest pod of each, and so does the plan",
}

// strays tallies the objects found mid-change, kind by kind, with the first example of each.
type strays map[strayKind]*strayTally

type strayTally struct {
	count   int
	example string
}

func (s strays) add(k strayKind, example string) {
	if t, ok := s[k]; ok {
		t.count++
		return
	}
	s[k] = &strayTally{count: 1, example: example}
}

// warnings are the tally's lines, in a fixed order.
func (s strays) warnings() []Warning {
	kinds := make([]strayKind, 0, len(s))
	for k := range s {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(a, b int) bool { return kinds[a] < kinds[b] })
	out := make([]Warning, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, Warning{Message: fmt.Sprintf(strayMessages[k], s[k].count, s[k].example)})
	}
	return out
}

// uniquePods returns bound and pending without duplicates: a pod that was pending when the pending
// pods were listed and bound by the time the bound ones were is planned as bound.
func uniquePods(bound, pending []*corev1.Pod, seen strays) []*corev1.Pod {
	isBound := make(map[string]*corev1.Pod, len(bound))
	for _, p := range bound {
		isBound[podName(p)] = p
	}
	out := make([]*corev1.Pod, 0, len(bound)+len(pending))
	out = append(out, bound...)
	for _, p := range pending {
		if b, ok := isBound[podName(p)]; ok && p.Spec.NodeName == "" {
			seen.add(podBoundWhileRead, podName(p)+" on "+b.Spec.NodeName)
			continue
		}
		out = append(out, p)
	}
	return out
}

// pendingToPlan drops the pending pods Karpenter would not provision for because they are being
// deleted: kube-scheduler skips a pod once it is deleted, so unless it had already marked it
// Unschedulable, Karpenter never sees it as provisionable (podutils.IsProvisionable).
func pendingToPlan(pending []*corev1.Pod, seen strays) []*corev1.Pod {
	out := pending[:0:0]
	for _, p := range pending {
		switch {
		case !podutils.IsTerminating(p):
		case podutils.FailedToSchedule(p):
			seen.add(pendingTerminatingPlanned, podName(p))
		default:
			seen.add(pendingTerminatingIgnored, podName(p))
			continue
		}
		out = append(out, p)
	}
	return out
}

// noteNodes tallies what Karpenter's cluster state makes of nodes and NodeClaims mid-change.
func noteNodes(nodes []*corev1.Node, nodeClaims []*karpv1.NodeClaim, seen strays) {
	claimed := map[string]bool{}
	for _, nc := range nodeClaims {
		switch {
		case nc.DeletionTimestamp != nil:
			seen.add(nodeClaimDeleting, nc.Name)
		case nc.Status.NodeName == "":
			seen.add(nodeClaimLaunching, nc.Name)
		}
		if nc.Status.ProviderID != "" {
			claimed[nc.Status.ProviderID] = true
		}
	}
	for _, n := range nodes {
		_, managed := n.Labels[karpv1.NodePoolLabelKey]
		ready := nodeutils.GetCondition(n, corev1.NodeReady).Status == corev1.ConditionTrue
		if n.Spec.Unschedulable || !ready {
			seen.add(nodeUnavailable, n.Name)
		}
		if !managed {
			continue
		}
		if n.Spec.ProviderID == "" {
			seen.add(nodeNotRegistered, n.Name+": no providerID")
		} else if !claimed[n.Spec.ProviderID] {
			seen.add(nodeWithoutNodeClaim, n.Name)
		}
	}
}

// newClusterState builds Karpenter's cluster state with the calls its informers make, in their
// order: NodeClaims, Nodes, bound pods, DaemonSets. What Karpenter's state rejects and retries (a pod
// whose node it does not know) is tallied, not an error.
func newClusterState(ctx context.Context, c *snapshotClient, cp cloudprovider.CloudProvider, nodes []*corev1.Node,
	nodeClaims []*karpv1.NodeClaim, bound []*corev1.Pod, daemonSets []*appsv1.DaemonSet, seen strays) (*state.Cluster, error) {
	cluster := state.NewCluster(clock.RealClock{}, c, cp)
	// State keeps (and reads status conditions of, which initialises missing ones) the objects it is
	// given: copies, so that the snapshot is never modified.
	for _, nc := range nodeClaims {
		cluster.UpdateNodeClaim(nc.DeepCopy())
	}
	noteNodes(nodes, nodeClaims, seen)
	known := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		known[n.Name] = true
		// UpdateNode also fills in a missing providerID.
		if err := cluster.UpdateNode(ctx, n.DeepCopy()); err != nil {
			return nil, fmt.Errorf("cluster state: node %s: %w", n.Name, err)
		}
	}
	for _, p := range bound {
		if podutils.IsTerminating(p) {
			seen.add(podTerminating, podName(p)+" on "+p.Spec.NodeName)
		}
		err := cluster.UpdatePod(ctx, p)
		switch {
		case err == nil:
		case apierrors.IsNotFound(err) && !known[p.Spec.NodeName]:
			seen.add(podOnMissingNode, podName(p)+" on "+p.Spec.NodeName)
		case apierrors.IsNotFound(err):
			// the node exists but Karpenter's state does not track it (nodeNotRegistered)
		default:
			seen.add(podNotTracked, fmt.Sprintf("%s: %s", podName(p), firstLine(err.Error())))
		}
	}
	for _, ds := range daemonSets {
		if st := ds.Status; st.UpdatedNumberScheduled < st.DesiredNumberScheduled || st.ObservedGeneration < ds.Generation {
			seen.add(daemonSetRolling, fmt.Sprintf("%s/%s: %d of %d pods updated", ds.Namespace, ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled))
		}
		if err := cluster.UpdateDaemonSet(ctx, ds); err != nil {
			return nil, fmt.Errorf("cluster state: daemonset %s/%s: %w", ds.Namespace, ds.Name, err)
		}
	}
	return cluster, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
