package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// Scenario builders for disruption: Karpenter nodes with their NodeClaims, as a reconciled cluster
// has them (registered, initialized, Consolidatable unless a test says otherwise).

func consolidatingPool(name string, policy karpv1.ConsolidationPolicy, after string, budget string) *karpv1.NodePool {
	np := nodePool(name, req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
		req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"), req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux"))
	np.Spec.Disruption.ConsolidationPolicy = policy
	d := karpv1.MustParseNillableDuration(after)
	np.Spec.Disruption.ConsolidateAfter = d
	np.Spec.Disruption.Budgets = []karpv1.Budget{{Nodes: budget}}
	return np
}

type managedNode struct {
	node  *corev1.Node
	claim *karpv1.NodeClaim
}

// karpenterNode is a node of pool launched as instance type it (from the kwok catalog) in zone.
func karpenterNode(t testing.TB, name, pool, it, zone string) managedNode {
	t.Helper()
	var capacity corev1.ResourceList
	for _, c := range kwok(t).InstanceTypes {
		if c.Name == it {
			capacity = c.Capacity.DeepCopy()
		}
	}
	if capacity == nil {
		t.Fatalf("no instance type %s", it)
	}
	labels := map[string]string{
		karpv1.NodePoolLabelKey: pool, corev1.LabelInstanceTypeStable: it, corev1.LabelTopologyZone: zone,
		karpv1.CapacityTypeLabelKey: "on-demand", corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		corev1.LabelHostname: name, karpv1.NodeRegisteredLabelKey: "true", karpv1.NodeInitializedLabelKey: "true",
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{ProviderID: "kwok://" + name},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	claimLabels := map[string]string{}
	for k, v := range labels {
		claimLabels[k] = v
	}
	nc := &karpv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-claim", Labels: claimLabels, CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))},
		Spec:       karpv1.NodeClaimSpec{NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"}},
		Status:     karpv1.NodeClaimStatus{ProviderID: "kwok://" + name, NodeName: name, Capacity: capacity, Allocatable: capacity},
	}
	for _, c := range []string{karpv1.ConditionTypeLaunched, karpv1.ConditionTypeRegistered, karpv1.ConditionTypeInitialized, karpv1.ConditionTypeConsolidatable} {
		nc.StatusConditions().SetTrue(c)
	}
	return managedNode{node: n, claim: nc}
}

func (m managedNode) add(snap *Snapshot) {
	snap.Nodes = append(snap.Nodes, m.node)
	snap.NodeClaims = append(snap.NodeClaims, m.claim)
}

func boundPod(name, node, cpu string, opts ...podOpt) *corev1.Pod {
	p := pod(name, cpu, "256Mi", opts...)
	p.Spec.NodeName = node
	p.Status.Phase = corev1.PodRunning
	// Owned by a ReplicaSet, as Karpenter only moves pods something recreates.
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs-" + name, UID: "rs-" + StableUID(name), Controller: ptrTrue()}}
	return p
}

func ptrTrue() *bool { b := true; return &b }

func disrupt(t testing.TB, snap *Snapshot, opts DisruptOptions) *DisruptResult {
	t.Helper()
	snap.Live = true
	for _, np := range snap.NodePools {
		np.StatusConditions().SetTrue(status.ConditionReady)
	}
	res, err := Disrupt(context.Background(), snap, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func stayOf(res *DisruptResult, node string) NodeStay {
	for _, s := range res.Staying {
		if s.Node == node {
			return s
		}
	}
	return NodeStay{}
}

func TestDisruptDeletesAnEmptyNode(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "100%")}}
	karpenterNode(t, "empty", "default", "c-2x-amd64-linux", "test-zone-a").add(snap)
	busy := karpenterNode(t, "busy", "default", "c-2x-amd64-linux", "test-zone-a")
	busy.add(snap)
	snap.Pods = []*corev1.Pod{boundPod("app", "busy", "1500m")}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 1 {
		t.Fatalf("commands %+v", res.Commands)
	}
	c := res.Commands[0]
	if c.Method != "Emptiness" || c.Reason != "Empty" || c.Decision != "delete" || len(c.Candidates) != 1 || c.Candidates[0].Node != "empty" || c.SavingsPerHour <= 0 {
		t.Errorf("command %+v", c)
	}
	if s := stayOf(res, "busy"); s.Reason == "" {
		t.Errorf("busy has no reason to stay: %+v", res.Staying)
	}
	if res.Totals.Disrupted != 1 || res.Totals.KarpenterNodes != 2 {
		t.Errorf("totals %+v", res.Totals)
	}
}

// A big node with one small pod: Karpenter replaces it with a cheaper one (or deletes it).
func TestDisruptConsolidatesAnUnderutilizedNode(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "100%")}}
	karpenterNode(t, "big", "default", "c-16x-amd64-linux", "test-zone-a").add(snap)
	snap.Pods = []*corev1.Pod{boundPod("small", "big", "500m")}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 1 {
		t.Fatalf("commands %+v, staying %+v", res.Commands, res.Staying)
	}
	c := res.Commands[0]
	if c.Reason != "Underutilized" || c.Decision != "replace" || c.Candidates[0].Node != "big" || len(c.Replacements) != 1 || c.SavingsPerHour <= 0 {
		t.Errorf("command %+v", c)
	}
	if r := c.Replacements[0]; r.PricePerHour >= c.Candidates[0].PricePerHour {
		t.Errorf("replacement %s at %v is not cheaper than %v", r.InstanceType, r.PricePerHour, c.Candidates[0].PricePerHour)
	}
	if got := c.Candidates[0].Pods; len(got) != 1 || got[0].Pod != "default/small" || !strings.HasPrefix(got[0].To, "replacement 1 (") {
		t.Errorf("pod moves %+v", got)
	}
}

// Nodes held by a do-not-disrupt pod, by a PDB, by a young NodeClaim and by a WhenEmpty policy stay,
// each with Karpenter's reason.
func TestDisruptSaysWhyNodesStay(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{
		consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "30s", "100%"),
		consolidatingPool("quiet", karpv1.ConsolidationPolicyWhenEmpty, "0s", "100%"),
	}}
	for _, n := range []string{"pinned", "guarded", "young"} {
		karpenterNode(t, n, "default", "c-16x-amd64-linux", "test-zone-a").add(snap)
	}
	karpenterNode(t, "steady", "quiet", "c-16x-amd64-linux", "test-zone-b").add(snap)
	young := snap.NodeClaims[2]
	young.StatusConditions().SetFalse(karpv1.ConditionTypeConsolidatable, "NotConsolidatable", "")
	young.Status.LastPodEventTime = metav1.NewTime(time.Now().Add(-10 * time.Second))
	pinned := boundPod("pinned-app", "pinned", "500m")
	pinned.Annotations = map[string]string{karpv1.DoNotDisruptAnnotationKey: "true"}
	guarded := boundPod("guarded-app", "guarded", "500m", withLabels("app", "guarded"))
	snap.Pods = []*corev1.Pod{pinned, guarded, boundPod("young-app", "young", "500m"), boundPod("steady-app", "steady", "500m")}
	snap.PodDisruptionBudgets = []*policyv1.PodDisruptionBudget{{
		ObjectMeta: metav1.ObjectMeta{Name: "guard", Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &intstr.IntOrString{Type: intstr.Int, IntVal: 0}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 0},
	}}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 0 {
		t.Errorf("commands %+v", res.Commands)
	}
	for node, want := range map[string]string{
		"pinned":  `"karpenter.sh/do-not-disrupt" annotation`,
		"guarded": "default/guard",
		"young":   "not Consolidatable yet (consolidateAfter 30s, ",
		"steady":  `NodePool "quiet" has consolidation policy WhenEmpty, but node is not empty`,
	} {
		if s := stayOf(res, node); !strings.Contains(s.Reason, want) {
			t.Errorf("%s stays for %q (%s), want %q", node, s.Reason, s.Source, want)
		}
	}
	if s := stayOf(res, "pinned"); s.Source != "karpenter" {
		t.Errorf("the do-not-disrupt reason is not Karpenter's event: %+v", s)
	}
}

func TestDisruptBudgetZero(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "0")}}
	karpenterNode(t, "empty", "default", "c-2x-amd64-linux", "test-zone-a").add(snap)
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 0 {
		t.Errorf("commands %+v despite a zero budget", res.Commands)
	}
	if s := stayOf(res, "empty"); !strings.Contains(s.Reason, "allow no Empty disruptions") {
		t.Errorf("stay %+v", s)
	}
	for _, b := range res.Budgets {
		if b.Allowed != 0 || b.Nodes != 1 || len(b.Active) != 1 || b.Active[0] != "nodes: 0" {
			t.Errorf("budget %+v", b)
		}
	}
}

func TestDisruptReplacesADriftedNode(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmpty, "Never", "100%")}}
	m := karpenterNode(t, "old", "default", "c-4x-amd64-linux", "test-zone-a")
	m.claim.StatusConditions().SetTrue(karpv1.ConditionTypeDrifted)
	m.add(snap)
	snap.Pods = []*corev1.Pod{boundPod("app", "old", "3")}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 1 || res.Commands[0].Method != "Drift" || res.Commands[0].Reason != "Drifted" || res.Commands[0].Decision != "replace" {
		t.Fatalf("commands %+v", res.Commands)
	}

	// A budget of zero for Drifted holds it, and says so.
	snap.NodePools[0].Spec.Disruption.Budgets = []karpv1.Budget{{Nodes: "0", Reasons: []karpv1.DisruptionReason{karpv1.DisruptionReasonDrifted}}}
	res = disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 0 || !strings.Contains(stayOf(res, "old").Reason, "allow no Drifted disruptions") {
		t.Errorf("drift budget 0: commands %+v, stay %+v", res.Commands, stayOf(res, "old"))
	}
}

func TestDisruptNothingToDoAndUnknownConditions(t *testing.T) {
	res := disrupt(t, &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmpty, "0s", "100%")}}, DisruptOptions{})
	if len(res.Commands) != 0 || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0].Message, "nothing to disrupt") {
		t.Errorf("no Karpenter nodes: %+v", res)
	}

	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "100%")}}
	m := karpenterNode(t, "empty", "default", "c-2x-amd64-linux", "test-zone-a")
	m.claim.Status.Conditions = nil
	m.add(snap)
	res = disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 0 || !strings.Contains(res.Warnings[0].Message, "--ignore-consolidate-after") {
		t.Errorf("bare NodeClaims: commands %+v warnings %+v", res.Commands, res.Warnings)
	}
	res = disrupt(t, snap, DisruptOptions{IgnoreConsolidateAfter: true})
	if len(res.Commands) != 1 || res.Commands[0].Method != "Emptiness" {
		t.Errorf("--ignore-consolidate-after: %+v", res.Commands)
	}
	if len(m.claim.Status.Conditions) != 0 {
		t.Error("the snapshot's NodeClaim was modified")
	}
}

// Two underutilized nodes whose pods fit on one smaller node: MultiNodeConsolidation takes both.
func TestDisruptMultiNodeConsolidation(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "100%")}}
	for _, n := range []string{"one", "two"} {
		karpenterNode(t, n, "default", "c-8x-amd64-linux", "test-zone-a").add(snap)
		snap.Pods = append(snap.Pods, boundPod(n+"-app", n, "500m"))
	}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 1 {
		t.Fatalf("commands %+v", res.Commands)
	}
	c := res.Commands[0]
	if c.Method != "MultiNodeConsolidation" || len(c.Candidates) != 2 || c.Decision != "replace" || len(c.Replacements) != 1 || c.SavingsPerHour <= 0 {
		t.Errorf("command %+v", c)
	}
}

// More reasons a node stays, each as Karpenter gives it: already the cheapest, a pod that cannot
// move, not initialized, no NodeClaim.
func TestDisruptMoreReasonsToStay(t *testing.T) {
	snap := &Snapshot{NodePools: []*karpv1.NodePool{consolidatingPool("default", karpv1.ConsolidationPolicyWhenEmptyOrUnderutilized, "0s", "100%")}}
	for _, n := range []string{"cheapest", "pinned", "fresh"} {
		karpenterNode(t, n, "default", "c-1x-amd64-linux", "test-zone-a").add(snap)
	}
	fresh := snap.Nodes[2]
	delete(fresh.Labels, karpv1.NodeInitializedLabelKey)
	snap.NodeClaims[2].StatusConditions().SetFalse(karpv1.ConditionTypeInitialized, "NotInitialized", "")
	orphan := karpenterNode(t, "orphan", "default", "c-1x-amd64-linux", "test-zone-b")
	orphan.node.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "other", Effect: corev1.TaintEffectNoSchedule}}
	snap.Nodes = append(snap.Nodes, orphan.node) // its NodeClaim is gone
	// A pod that needs its node's hostname cannot go anywhere else.
	// 600m of the c-1x's 900m each: no node has room for another node's pod.
	stuck := boundPod("stuck", "pinned", "600m", withNodeSelector(corev1.LabelHostname, "pinned"))
	snap.Pods = []*corev1.Pod{boundPod("app", "cheapest", "600m"), stuck, boundPod("fresh-app", "fresh", "600m")}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 0 {
		t.Fatalf("commands %+v", res.Commands)
	}
	for node, want := range map[string]string{
		"cheapest": "Can't replace with a cheaper node",
		"pinned":   "stuck",
		"fresh":    "initialized",
		"orphan":   "no NodeClaim",
	} {
		if s := stayOf(res, node); !strings.Contains(s.Reason, want) {
			t.Errorf("%s stays for %q (%s), want %q", node, s.Reason, s.Source, want)
		}
	}
}

// A static NodePool's drifted NodeClaim: StaticDrift replaces it (static NodePools take no pending
// pods, but the disruption controller keeps their nodes current).
func TestDisruptStaticDrift(t *testing.T) {
	np := consolidatingPool("fixed", karpv1.ConsolidationPolicyWhenEmpty, "Never", "100%")
	one := int64(1)
	np.Spec.Replicas = &one
	snap := &Snapshot{NodePools: []*karpv1.NodePool{np}}
	m := karpenterNode(t, "static", "fixed", "c-2x-amd64-linux", "test-zone-a")
	m.claim.StatusConditions().SetTrue(karpv1.ConditionTypeDrifted)
	m.add(snap)
	snap.Pods = []*corev1.Pod{boundPod("app", "static", "500m")}
	res := disrupt(t, snap, DisruptOptions{})
	if len(res.Commands) != 1 || res.Commands[0].Method != "StaticDrift" || res.Commands[0].Decision != "replace" || res.Commands[0].Candidates[0].Node != "static" {
		t.Fatalf("commands %+v staying %+v", res.Commands, res.Staying)
	}
}
