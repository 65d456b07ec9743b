package top

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
)

var now = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)

func node(name, pool, cpu string, created time.Duration) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(now.Add(-created)), Labels: map[string]string{
		corev1.LabelInstanceTypeStable: "c-4x-amd64-linux", corev1.LabelTopologyZone: "test-zone-a", karpv1.CapacityTypeLabelKey: "on-demand",
	}}}
	if pool != "" {
		n.Labels[karpv1.NodePoolLabelKey] = pool
	}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("16Gi")}
	return n
}

func pod(ns, name, nodeName, cpu string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(now.Add(-time.Minute))},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}}}}
	p.Status.Phase = corev1.PodRunning
	if nodeName == "" {
		p.Status.Phase = corev1.PodPending
	}
	return p
}

func scenario() Input {
	np := &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	np.Spec.Limits = karpv1.Limits{corev1.ResourceCPU: resource.MustParse("20")}
	np.Status.Resources = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8")}
	gpu := &karpv1.NodePool{ObjectMeta: metav1.ObjectMeta{Name: "gpu"}}
	a, b, c := node("a", "default", "4", time.Hour), node("b", "default", "4", time.Minute), node("sys", "", "2", 48*time.Hour)
	b.Spec.Unschedulable = true
	b.Annotations = map[string]string{karpv1.DoNotDisruptAnnotationKey: "true"}
	drifted := &karpv1.NodeClaim{ObjectMeta: metav1.ObjectMeta{Name: "a-claim"}}
	drifted.Status.NodeName = "a"
	drifted.StatusConditions().SetTrue(karpv1.ConditionTypeDrifted)
	snap := &engine.Snapshot{
		NodePools: []*karpv1.NodePool{np, gpu}, Nodes: []*corev1.Node{a, b, c}, NodeClaims: []*karpv1.NodeClaim{drifted},
		Pods:        []*corev1.Pod{pod("x", "p1", "a", "1"), pod("x", "p2", "a", "2"), pod("x", "p3", "b", "500m"), pod("kube-system", "k", "sys", "1")},
		PendingPods: []*corev1.Pod{pod("x", "waiting", "", "3")},
	}
	plan := &engine.Result{NodePools: []engine.NodePoolPlan{{Name: "default", NodeClaims: []engine.NodeClaimPlan{
		{InstanceType: "c-4x-amd64-linux", Zone: "test-zone-b", CapacityType: "on-demand", PricePerHour: 0.1, Pods: []string{"x/waiting"}},
	}}}, Totals: engine.Totals{PendingPods: 1, NewNodes: 1, PricePerHour: 0.1, PodsOnNewNodes: 1}}
	dis := &engine.DisruptResult{
		Commands: []engine.DisruptionCommand{{Method: "Drift", Reason: "Drifted", Decision: "replace", Candidates: []engine.CandidateNode{{Node: "a"}}}},
		Budgets:  []engine.Budget{{NodePool: "default", Reason: "Drifted", Allowed: 1}, {NodePool: "default", Reason: "Empty", Allowed: 0}},
		Staying:  []engine.NodeStay{{Node: "b", Reason: "do-not-disrupt"}},
	}
	preds := NewPredictions(map[string]float64{"a": 0.25, "b": 0.25, "sys": 1}, plan, Computed{At: now}, dis, Computed{At: now})
	acquired := metav1.NewMicroTime(now.Add(-5 * time.Minute))
	renewed := metav1.NewMicroTime(now.Add(-time.Second))
	k := discovery.FromDeployment(&appsvDeployment)
	leaderPod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-abc", Labels: map[string]string{"app": "karpenter"}}}
	leaderPod.Status.Phase = corev1.PodRunning
	return Input{
		Cluster: "c1", Context: "ctx", Snapshot: snap, Karpenter: k, KarpenterPods: []corev1.Pod{leaderPod},
		Lease: &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election"}, Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("karpenter-abc_1234"), LeaseDurationSeconds: ptr.To[int32](15), AcquireTime: &acquired, RenewTime: &renewed}},
		Predictions: preds, View: View{PredictInterval: 10 * time.Second}, Now: now,
	}
}

func TestBuild(t *testing.T) {
	s := Build(scenario())
	if s.Karpenter.Leader != "karpenter-abc" || s.Karpenter.Lease.Verdict != "Healthy" || s.Karpenter.LeaderFor.Duration() != 5*time.Minute {
		t.Errorf("leader = %q %v for %v, want karpenter-abc Healthy 5m", s.Karpenter.Leader, s.Karpenter.Lease.Verdict, s.Karpenter.LeaderFor)
	}
	// Only Karpenter's nodes count: a and b.
	if s.PricePerHour != 0.5 || s.PricePerMonth != 0.5*HoursPerMonth {
		t.Errorf("cost = %v/h %v/month, want 0.5/h", s.PricePerHour, s.PricePerMonth)
	}
	if s.PendingPods != 1 || len(s.Pending) != 1 || s.Pending[0].Plan == "" {
		t.Errorf("pending = %d %+v, want x/waiting with its plan", s.PendingPods, s.Pending)
	}
	var names []string
	for _, n := range s.Nodes {
		names = append(names, n.Name)
	}
	if got := names; len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "sys" {
		t.Fatalf("nodes = %v, want grouped a b sys", got)
	}
	a, b := s.Nodes[0], s.Nodes[1]
	if u := a.Usage["cpu"]; u.Requested != 3 || u.Allocatable != 4 || a.Pods != 2 {
		t.Errorf("a cpu = %+v pods %d, want 3/4, 2 pods", u, a.Pods)
	}
	if !a.Drifted || a.Disrupt != "Drift" || a.Cordoned {
		t.Errorf("a marks = %+v, want drifted, disrupted by Drift", a)
	}
	if !b.Cordoned || !b.DoNotDisrupt || b.Disrupt != "" || b.Disruption != "stays: do-not-disrupt" {
		t.Errorf("b marks = %+v, want cordoned, do-not-disrupt, staying", b)
	}
	np := s.NodePools[0]
	if np.Name != "default" || np.Nodes != 2 || np.Usage["cpu"].Requested != 3.5 || np.Usage["cpu"].Allocatable != 8 || np.PricePerHour != 0.5 {
		t.Errorf("default = %+v", np)
	}
	if np.LimitUse == nil || *np.LimitUse != 0.4 || np.LimitResource != "cpu" || np.BudgetAllowed["Drifted"] != 1 {
		t.Errorf("default limits/budgets = %v %s %v", np.LimitUse, np.LimitResource, np.BudgetAllowed)
	}
	if s.NodePools[1].Name != "gpu" || s.NodePools[1].Nodes != 0 || s.NodePools[1].LimitUse != nil {
		t.Errorf("gpu = %+v", s.NodePools[1])
	}
	l := s.Next.Launch
	if l == nil || l.NewNodeClaims != 1 || len(l.Groups) != 1 || l.Groups[0].Count != 1 || s.Next.Disrupt.Method != "Drift" {
		t.Errorf("next = %+v %+v", s.Next.Launch, s.Next.Disrupt)
	}
}

func TestBuildSortAndSelector(t *testing.T) {
	in := scenario()
	for key, want := range map[SortKey]string{SortCreation: "b", SortPrice: "sys", SortFill: "a", SortNodePool: "a"} {
		in.View.Sort = key
		if got := Build(in).Nodes[0].Name; got != want {
			t.Errorf("sort %s: first node %s, want %s", key, got, want)
		}
	}
	in.View.Sort = SortNodePool
	in.View.Selector = labels.SelectorFromSet(labels.Set{karpv1.NodePoolLabelKey: "default"})
	s := Build(in)
	if len(s.Nodes) != 2 || s.PricePerHour != 0.5 {
		t.Errorf("-l default: %d nodes, %v/h; want 2 nodes and the whole cluster's 0.5/h", len(s.Nodes), s.PricePerHour)
	}
	in.View.Resources = []string{"cpu", "memory"}
	if u := Build(in).Nodes[0].Usage["memory"]; u.Allocatable != 16*(1<<30) {
		t.Errorf("memory allocatable = %v", u.Allocatable)
	}
}

func TestBuildBeforePredictions(t *testing.T) {
	in := scenario()
	in.Predictions = nil
	s := Build(in)
	if s.Next.Launch != nil || s.Nodes[0].PricePerHour != nil || s.NodePools[0].BudgetAllowed != nil {
		t.Errorf("before predictions: %+v %+v", s.Next, s.Nodes[0])
	}
}

func TestParse(t *testing.T) {
	if _, err := ParseResources("cpu,memory,nvidia.com/gpu"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"cpux", "cpu,", "kubernetes.io/foo"} {
		if _, err := ParseResources(bad); err == nil {
			t.Errorf("ParseResources(%q) accepted", bad)
		}
	}
	if _, err := ParseSort("size"); err == nil {
		t.Error("ParseSort(size) accepted")
	}
	if NextSort(SortFill) != SortNodePool {
		t.Error("NextSort does not wrap")
	}
}

var appsvDeployment = func() appsv1.Deployment {
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter"}}
	d.Spec.Replicas = ptr.To[int32](2)
	d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "karpenter"}}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "controller", Image: "public.ecr.aws/karpenter/controller:1.15.0"}}
	return d
}()

// Screens built with the requests memo are the ones built without it, also after a pod changes
// (a new object in the caches) or goes.
func TestRequestMemo(t *testing.T) {
	in := scenario()
	memo := &RequestMemo{}
	with := func(in Input) *Screen { in.Requests = memo; return Build(in) }
	cpu := func(s *Screen, node string) float64 {
		for _, n := range s.Nodes {
			if n.Name == node {
				return n.Usage["cpu"].Requested
			}
		}
		return -1
	}
	if a, b := cpu(Build(in), "a"), cpu(with(in), "a"); a != 3 || b != a {
		t.Fatalf("node a: %v cpu without the memo, %v with it; want 3", a, b)
	}
	snap := *in.Snapshot
	snap.Pods = append([]*corev1.Pod{pod("x", "p1", "a", "1500m")}, snap.Pods[1:]...)
	in.Snapshot = &snap
	if a, b := cpu(Build(in), "a"), cpu(with(in), "a"); a != 3.5 || b != a {
		t.Fatalf("after p1 changed, node a: %v cpu without the memo, %v with it; want 3.5", a, b)
	}
	if n := len(memo.last); n != len(snap.Pods) {
		t.Errorf("the memo keeps %d pods, the caches hold %d", n, len(snap.Pods))
	}
}
