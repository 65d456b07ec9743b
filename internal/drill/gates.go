package drill

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/pdb"
)

// The preflight gates, in the order Check runs them. Each judges what was read and says why.

// permissionsGate asks the API server (SelfSubjectAccessReview) for every verb in attrs and names
// the missing ones.
func permissionsGate(ctx context.Context, c Client, attrs []authorizationv1.ResourceAttributes) (Gate, error) {
	var missing []string
	for _, a := range attrs {
		ok, _, err := c.Allowed(ctx, a)
		if err != nil {
			return Gate{}, err
		}
		if !ok {
			where := ""
			if a.Namespace != "" {
				where = " in namespace " + a.Namespace
			}
			missing = append(missing, fmt.Sprintf("%s %s%s", a.Verb, resourceName(a), where))
		}
	}
	if len(missing) > 0 {
		return Gate{Name: "permissions", Permission: true, Message: "missing RBAC permission: " + strings.Join(missing, "; ")}, nil
	}
	return Gate{Name: "permissions", Passed: true, Message: "allowed: every verb the drill needs (SelfSubjectAccessReview)"}, nil
}

// installationGate refuses a Karpenter a drill cannot work on: no Deployment to recreate the pods,
// or no leader election. nil when neither.
func installationGate(k *discovery.Karpenter) *Gate {
	switch {
	case k.Deployment == nil || k.PodSelector == nil:
		return &Gate{Name: "deployment", Message: "no Karpenter Deployment found: a drill needs one to recreate the pods"}
	case k.LeaderElectionDisabled:
		return &Gate{Name: "leader-election", Message: "DISABLE_LEADER_ELECTION=true: there is no leader to fail over"}
	}
	return nil
}

// readyGate wants ≥ 2 ready replicas, or there is nobody to take over; it returns their names.
func readyGate(pods []corev1.Pod) (Gate, []string) {
	var ready []string
	for i := range pods {
		if discovery.PodLive(&pods[i]) && discovery.PodReady(&pods[i]) {
			ready = append(ready, pods[i].Name)
		}
	}
	if len(ready) >= 2 {
		return Gate{Name: "ready-replicas", Passed: true, Message: fmt.Sprintf("%d ready: %s", len(ready), strings.Join(ready, ", "))}, ready
	}
	return Gate{Name: "ready-replicas", Message: fmt.Sprintf("%d ready replica(s) (%s): a drill needs ≥ 2, or there is nobody to take over", len(ready), strings.Join(ready, ", "))}, ready
}

// leaseGate wants the lease Healthy.
func leaseGate(k *discovery.Karpenter, st lease.Status) Gate {
	if st.Verdict == lease.Healthy {
		return Gate{Name: "lease", Passed: true, Message: fmt.Sprintf("%s/%s Healthy: %s", k.LeaseNamespace, k.LeaseName, st.Reason)}
	}
	return Gate{Name: "lease", Message: fmt.Sprintf("%s/%s is %s: %s", k.LeaseNamespace, k.LeaseName, st.Verdict, st.Reason)}
}

// leaderGate wants the holder to be one of the Karpenter pods, and returns it.
func leaderGate(st lease.Status, pods []corev1.Pod, nodes map[string]*corev1.Node) (Gate, *corev1.Pod) {
	var leader *corev1.Pod
	if h := st.Holder; h != nil && h.Pod != "" {
		for i := range pods {
			if pods[i].Name == h.Pod {
				leader = &pods[i]
			}
		}
	}
	if leader == nil {
		return Gate{Name: "leader", Message: fmt.Sprintf("holder %q is not a known Karpenter pod", st.HolderIdentity)}, nil
	}
	zone := lease.ZoneOf(nodes[leader.Spec.NodeName])
	return Gate{Name: "leader", Passed: true, Message: fmt.Sprintf("%s on node %s (zone %s) holds the lease", leader.Name, orNone(leader.Spec.NodeName), orNone(zone))}, leader
}

// zoneGate says what the zone outage cordons of the zone's nodes.
func zoneGate(zone string, inZone, cordon []string) Gate {
	return Gate{Name: "zone", Passed: true, Message: fmt.Sprintf("%d node(s) in %s; will cordon %d: %s", len(inZone), zone, len(cordon), orNone(strings.Join(cordon, ", ")))}
}

// leftoverCordonsGate refuses while nodes an earlier drill cordoned are still marked; nil when none.
func leftoverCordonsGate(leftovers []string) *Gate {
	if len(leftovers) == 0 {
		return nil
	}
	return &Gate{Name: "leftover-cordons", Message: "nodes still cordoned by an earlier drill: " + strings.Join(leftovers, ", ") + "; run `kubectl karpctl drill restore` first"}
}

// replicasInZoneGate refuses (overridably) a zone outage that would take every ready replica down.
func replicasInZoneGate(zone string, targets []string, survivors int, force bool) Gate {
	switch {
	case len(targets) == 0:
		return Gate{Name: "replicas-in-zone", Passed: true, Message: fmt.Sprintf("no Karpenter replica runs in %s: the drill only cordons and checks the leader stays", zone)}
	case survivors == 0:
		return Gate{Name: "replicas-in-zone", Overridable: true, Forced: force, Message: fmt.Sprintf("every ready replica runs in %s (%s): the drill would take Karpenter down entirely; --force to do it anyway", zone, strings.Join(targets, ", "))}
	}
	return Gate{Name: "replicas-in-zone", Passed: true, Message: fmt.Sprintf("%d replica(s) in %s (%s), %d ready elsewhere", len(targets), zone, strings.Join(targets, ", "), survivors)}
}

// pdbGate: every PDB selecting a target must allow the disruptions (its status when the disruption
// controller has computed it, else what the controller would compute from its spec, the desired
// replicas and the ready count).
func pdbGate(pdbs []policyv1.PodDisruptionBudget, pods []corev1.Pod, targets []string, desired, ready int) Gate {
	byName := map[string]*corev1.Pod{}
	for i := range pods {
		byName[pods[i].Name] = &pods[i]
	}
	var notes []string
	for _, b := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		n := 0
		for _, t := range targets {
			if p := byName[t]; p != nil && sel.Matches(labels.Set(p.Labels)) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		allowed, how := b.Status.DisruptionsAllowed, "status.disruptionsAllowed"
		if b.Status.ObservedGeneration < b.Generation || b.Status.ObservedGeneration == 0 {
			how = "spec (status not computed yet)"
			if allowed, err = pdb.Allowed(b.Spec, int32(desired), int32(ready)); err != nil {
				return Gate{Name: "pdb", Message: fmt.Sprintf("PodDisruptionBudget %s: %v", b.Name, err)}
			}
		}
		if allowed < 1 {
			return Gate{Name: "pdb", Message: fmt.Sprintf("PodDisruptionBudget %s allows %d disruption(s) (%s): the eviction would be refused", b.Name, allowed, how)}
		}
		notes = append(notes, fmt.Sprintf("%s allows %d", b.Name, allowed))
	}
	if len(notes) == 0 {
		return Gate{Name: "pdb", Passed: true, Message: "no PodDisruptionBudget selects the target pods"}
	}
	return Gate{Name: "pdb", Passed: true, Message: "PodDisruptionBudget " + strings.Join(notes, ", ")}
}

// lockGate wants no other drill running: no drill lock in ns, or (with --force) a stale one.
func lockGate(lock *coordinationv1.Lease, ns string, o Options) Gate {
	if lock == nil {
		return Gate{Name: "drill-lock", Passed: true, Message: fmt.Sprintf("no other drill running (no Lease %s/%s)", ns, LockName)}
	}
	holder, since := ptr.Deref(lock.Spec.HolderIdentity, ""), lock.CreationTimestamp.Time
	if lock.Spec.AcquireTime != nil {
		since = lock.Spec.AcquireTime.Time
	}
	age := o.Now().Sub(since)
	if age > o.Timeout {
		return Gate{Name: "drill-lock", Overridable: true, Forced: o.Force, Message: fmt.Sprintf("stale lock: drill %s started %s ago (> timeout %s); --force takes it over, `drill restore` cleans up after it", holder, age.Round(time.Second), o.Timeout)}
	}
	restore := "kubectl karpctl drill restore"
	if holder != "" && len(validation.IsValidLabelValue(holder)) == 0 {
		restore += " --id " + holder
	}
	return Gate{Name: "drill-lock", Message: fmt.Sprintf("drill %s is running (Lease %s/%s, started %s ago); if it was killed, `%s` cleans up after it", holder, ns, LockName, age.Round(time.Second), restore)}
}
