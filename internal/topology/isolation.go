package topology

import (
	"fmt"
	"sort"
	"strings"

	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Isolation: Karpenter off the nodes it manages, and its nodes kept apart from ordinary workloads.

// KarpenterManaged reports whether Karpenter manages a node: the NodePool or registered label, or a
// NodeClaim owner.
func KarpenterManaged(labels map[string]string, owners []metav1.OwnerReference) bool {
	if _, ok := labels[NodePoolLabel]; ok {
		return true
	}
	if _, ok := labels[RegisteredLabel]; ok {
		return true
	}
	for _, o := range owners {
		if o.Kind == NodeClaimKind && strings.HasPrefix(o.APIVersion, "karpenter.sh/") {
			return true
		}
	}
	return false
}

func (a *audit) isolation() {
	// Spec half: runs offline too.
	if !requiresNoNodePool(&a.template.Spec) {
		a.add("isolation-node-affinity", "no required nodeAffinity keeps the replicas off nodes Karpenter manages (karpenter.sh/nodepool DoesNotExist)",
			"add to every required nodeSelectorTerm: {key: karpenter.sh/nodepool, operator: DoesNotExist} (the Helm chart's default): Karpenter must not run on nodes it may consolidate away", "")
	}
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckIsolation, why)
		return
	}
	if a.nodes == nil {
		a.skip(CheckIsolation, "nodes not read")
		return
	}
	for _, pl := range a.r.Placements {
		if pl.KarpenterManaged {
			a.add("isolation-karpenter-node", fmt.Sprintf("replica %s runs on node %s, which Karpenter manages: consolidation or expiry can remove the node that runs Karpenter", pl.Pod, pl.Node),
				"add the required nodeAffinity karpenter.sh/nodepool DoesNotExist, then delete this pod so it lands on a node outside Karpenter", "Pod "+a.r.Namespace+"/"+pl.Pod)
		}
	}
}

func (a *audit) systemNodes() {
	if a.o.SystemNodes == nil {
		a.skip(CheckSystemNodes, "no --system-node-selector given")
		return
	}
	if ok, why := a.livePlacement(); !ok {
		a.skip(CheckSystemNodes, why)
		return
	}
	sel := a.o.SystemNodes.String()
	for _, pl := range a.r.Placements {
		if pl.SystemNode != nil && !*pl.SystemNode {
			a.add("isolation-outside-system-nodes", fmt.Sprintf("replica %s runs on node %s, outside the system nodes (%s)", pl.Pod, pl.Node, sel),
				fmt.Sprintf("add a required nodeAffinity (or nodeSelector) for %s and a toleration for the system nodes' taint", sel), "Pod "+a.r.Namespace+"/"+pl.Pod)
		}
	}
	if !a.in.NodePodsRead {
		return
	}
	sel2 := a.k.PodSelector
	for _, n := range sortedKeys(a.in.NodePods) {
		var workload []string
		for _, p := range a.in.NodePods[n] {
			if ordinaryWorkload(&p, a.r.Namespace, sel2) {
				workload = append(workload, p.Namespace+"/"+p.Name)
			}
		}
		if len(workload) == 0 {
			continue
		}
		sort.Strings(workload)
		shown := workload
		if len(shown) > 3 {
			shown = append(shown[:3:3], fmt.Sprintf("and %d more", len(workload)-3))
		}
		a.add("isolation-shared-with-workloads", fmt.Sprintf("node %s runs a Karpenter replica and %d ordinary workload pod(s): %s", n, len(workload), strings.Join(shown, ", ")),
			fmt.Sprintf("keep workloads off the system nodes with a taint (e.g. CriticalAddonsOnly=true:NoSchedule) and schedule Karpenter there with %s", sel), "Node "+n)
	}
}

// ordinaryWorkload: not a system pod (kube-* namespaces, DaemonSet, static/mirror), not Karpenter,
// not finished.
func ordinaryWorkload(p *corev1.Pod, karpenterNS string, karpenterSel labels.Selector) bool {
	if strings.HasPrefix(p.Namespace, "kube-") || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if p.Namespace == karpenterNS && karpenterSel != nil && karpenterSel.Matches(labels.Set(p.Labels)) {
		return false
	}
	if _, ok := p.Annotations[corev1.MirrorPodAnnotationKey]; ok {
		return false
	}
	return !podutils.IsOwnedByDaemonSet(p) && !podutils.IsOwnedByNode(p)
}

// requiresNoNodePool: every required node selector term excludes karpenter.sh/nodepool nodes.
func requiresNoNodePool(spec *corev1.PodSpec) bool {
	if spec.Affinity == nil || spec.Affinity.NodeAffinity == nil || spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	for _, t := range terms {
		ok := false
		for _, e := range t.MatchExpressions {
			if e.Key == NodePoolLabel && e.Operator == corev1.NodeSelectorOpDoesNotExist {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
