package engine

import (
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// A cluster in motion: each stray object is planned the way Karpenter's cluster state treats it,
// reported in one warning line with a count and an example, and never an error.

func motionBase() *Snapshot {
	np := nodePool("default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
		req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "amd64"))
	full := readyNode("full", "test-zone-a", "", "4", "16Gi")
	hog := pod("hog", "3900m", "1Gi")
	hog.Spec.NodeName = "full"
	return &Snapshot{
		NodePools:   []*karpv1.NodePool{np},
		Nodes:       []*corev1.Node{full},
		Pods:        []*corev1.Pod{hog},
		PendingPods: pods(3, "web", "1", "1Gi", withLabels("app", "web"), withHostnameAntiAffinity("web")),
	}
}

// claimShapes is what the NodeClaims of a plan are, independent of warnings.
func claimShapes(res *Result) []string {
	var out []string
	for _, c := range allClaims(res) {
		out = append(out, c.InstanceType+" "+c.Zone+" "+strings.Join(c.Pods, ","))
	}
	return out
}

func wantWarning(t *testing.T, res *Result, parts ...string) {
	t.Helper()
	for _, w := range res.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w.Message, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no warning with %q in %+v", parts, res.Warnings)
}

func terminating(p *corev1.Pod) *corev1.Pod {
	now := metav1.NewTime(time.Now())
	p.DeletionTimestamp = &now
	p.Finalizers = []string{"example.com/hold"}
	return p
}

func unschedulable(p *corev1.Pod) *corev1.Pod {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable})
	return p
}

func TestPlanToleratesPodsOnDeletedNodes(t *testing.T) {
	base := plan(t, motionBase(), Options{})
	snap := motionBase()
	for _, name := range []string{"orphan-0", "orphan-1"} {
		p := pod(name, "2", "1Gi", withLabels("app", "web"))
		p.Namespace = "load"
		p.Spec.NodeName = "load-0"
		snap.Pods = append(snap.Pods, p)
	}
	res := plan(t, snap, Options{})
	if !reflect.DeepEqual(claimShapes(res), claimShapes(base)) {
		t.Errorf("claims %v, want the plan without the orphans %v", claimShapes(res), claimShapes(base))
	}
	wantWarning(t, res, "2 pods are bound to nodes that no longer exist (e.g. load/orphan-0 on load-0)", "pod garbage collector")
}

func TestPlanTakesPodsBoundWhileReadAsBound(t *testing.T) {
	base := plan(t, motionBase(), Options{})
	snap := motionBase()
	raced := pod("raced", "100m", "100Mi")
	bound := raced.DeepCopy()
	bound.Spec.NodeName = "full"
	snap.PendingPods = append(snap.PendingPods, raced)
	snap.Pods = append(snap.Pods, bound)
	res := plan(t, snap, Options{})
	if res.Totals.PendingPods != 3 || !reflect.DeepEqual(claimShapes(res), claimShapes(base)) {
		t.Errorf("pending %d, claims %v; want 3 and %v", res.Totals.PendingPods, claimShapes(res), claimShapes(base))
	}
	wantWarning(t, res, "1 pods were bound to a node while karpctl read the cluster (e.g. default/raced on full)")
}

func TestPlanTerminatingPods(t *testing.T) {
	snap := motionBase()
	// Bound and terminating: still counted on its node (the node stays full).
	snap.Pods = append(snap.Pods, terminating(func() *corev1.Pod { p := pod("draining", "50m", "10Mi"); p.Spec.NodeName = "full"; return p }()))
	// Pending and terminating: planned only if kube-scheduler had marked it Unschedulable.
	snap.PendingPods = append(snap.PendingPods,
		unschedulable(terminating(pod("going-marked", "1", "1Gi", withLabels("app", "other")))),
		terminating(pod("going-unmarked", "1", "1Gi", withLabels("app", "other"))))
	res := plan(t, snap, Options{})
	placed := strings.Join(claimShapes(res), " ")
	if !strings.Contains(placed, "default/going-marked") || strings.Contains(placed, "going-unmarked") || res.Totals.PendingPods != 4 {
		t.Errorf("pending %d, claims %v: want going-marked planned and going-unmarked left out", res.Totals.PendingPods, claimShapes(res))
	}
	wantWarning(t, res, "1 bound pods are terminating (e.g. default/draining on full)")
	wantWarning(t, res, "1 pending pods are being deleted but still marked Unschedulable (e.g. default/going-marked)")
	wantWarning(t, res, "1 pending pods are being deleted and were never marked Unschedulable (e.g. default/going-unmarked)")
}

func TestPlanNodesAndNodeClaimsMidChange(t *testing.T) {
	snap := motionBase()
	launching := &karpv1.NodeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "default-launch", Labels: map[string]string{karpv1.NodePoolLabelKey: "default", corev1.LabelInstanceTypeStable: "c-4x-amd64-linux"}},
		Spec:       karpv1.NodeClaimSpec{NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"}},
	}
	deleting := launching.DeepCopy()
	deleting.Name = "default-going"
	now := metav1.NewTime(time.Now())
	deleting.DeletionTimestamp = &now
	deleting.Finalizers = []string{karpv1.TerminationFinalizer}
	deleting.Status.NodeName = "gone"
	deleting.Status.ProviderID = "kwok://gone"
	snap.NodeClaims = []*karpv1.NodeClaim{launching, deleting}

	cordoned := readyNode("cordoned", "test-zone-b", "", "4", "16Gi")
	cordoned.Spec.Unschedulable = true
	cordoned.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}}
	unowned := readyNode("unowned", "test-zone-c", "default", "1", "1Gi")
	unowned.Spec.ProviderID = "kwok://unowned"
	unowned.Labels[corev1.LabelInstanceTypeStable] = "c-1x-amd64-linux"
	unregistered := readyNode("unregistered", "test-zone-c", "default", "1", "1Gi")
	snap.Nodes = append(snap.Nodes, cordoned, unowned, unregistered)
	before := unregistered.DeepCopy()

	res := plan(t, snap, Options{})
	wantWarning(t, res, "1 NodeClaims are launching, with no Node yet (e.g. default-launch)", "in-flight")
	wantWarning(t, res, "1 NodeClaims are being deleted (e.g. default-going)")
	wantWarning(t, res, "1 nodes are cordoned or not Ready (e.g. cordoned)")
	wantWarning(t, res, "1 Karpenter nodes have no NodeClaim (e.g. unowned)")
	wantWarning(t, res, "1 Karpenter nodes are not registered yet (e.g. unregistered: no providerID)")
	for _, en := range res.ExistingNodes {
		if en.Node == "cordoned" {
			t.Errorf("pods placed on the cordoned node: %+v", en)
		}
	}
	if !reflect.DeepEqual(unregistered, before) {
		t.Error("the snapshot's node was modified")
	}
}

func TestPlanDaemonSetRollingOut(t *testing.T) {
	snap := motionBase()
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system", Generation: 2},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "agent", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		}}}}},
		Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 5, UpdatedNumberScheduled: 3},
	}
	snap.DaemonSets = []*appsv1.DaemonSet{ds}
	res := plan(t, snap, Options{})
	wantWarning(t, res, "1 DaemonSets are rolling out (e.g. kube-system/agent: 3 of 5 pods updated)")
	if res.Totals.NewNodes != 3 {
		t.Errorf("%d new nodes, want 3", res.Totals.NewNodes)
	}
}

// A quiet cluster gets none of these warnings.
func TestPlanQuietClusterHasNoMotionWarnings(t *testing.T) {
	res := plan(t, motionBase(), Options{})
	for _, w := range res.Warnings {
		if !strings.Contains(w.Message, "marked Ready") {
			t.Errorf("unexpected warning %q", w.Message)
		}
	}
}
