package explain

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// One case per kind: the NodePool is blocked by exactly that constraint, confirmed by relaxing it.
func TestExplainEachKind(t *testing.T) {
	minValues := 500
	zoneA := requiring(req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a"))
	busy := node("busy-a", "pool", "c-4x-amd64-linux", "4")
	for _, tc := range []struct {
		kind Kind
		snap *engine.Snapshot
		// in: words the reason must say
		in []string
	}{
		{Taint, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", tainted("team", "a"))}, PendingPods: []*corev1.Pod{pod("p", "1")}},
			[]string{"team=a:NoSchedule"}},
		{Requirement, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", requiring(req("team", corev1.NodeSelectorOpIn, "b")))},
			PendingPods: []*corev1.Pod{pod("p", "1", selecting("team", "a"))}}, []string{"team In [a]", "team In [b]"}},
		{Limit, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", limited("6"))}, Nodes: []*corev1.Node{busy},
			PendingPods: []*corev1.Pod{pod("p", "5")}}, []string{"use 4, leaving 2", "the pod needs 5", "c-8x-amd64-linux"}},
		{Resources, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool")}, PendingPods: []*corev1.Pod{pod("p", "1000")}},
			[]string{"no instance type offered is large enough", "the pod requests cpu 1000, memory 1Gi"}},
		{Offering, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool")},
			PendingPods: []*corev1.Pod{pod("p", "1", selecting(corev1.LabelTopologyZone, "test-zone-z"))}}, []string{"test-zone-z"}},
		{MinValues, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", func(np *karpv1.NodePool) {
			r := req(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpExists)
			r.MinValues = &minValues
			np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, r)
		})}, PendingPods: []*corev1.Pod{pod("p", "1")}}, []string{"minValues 500 on node.kubernetes.io/instance-type"}},
		{Affinity, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool", zoneA)}, Nodes: []*corev1.Node{busy},
			Pods:        []*corev1.Pod{bound(pod("db-0", "1"), "busy-a")},
			PendingPods: []*corev1.Pod{pod("p", "1", antiAffinity("db", corev1.LabelTopologyZone))}}, []string{"anti-affinity"}},
		{HostPort, &engine.Snapshot{NodePools: []*karpv1.NodePool{nodePool("pool")}, DaemonSets: []*appsv1.DaemonSet{daemonSet(8080)},
			PendingPods: []*corev1.Pod{pod("p", "1", hostPort(8080))}}, []string{"8080/TCP"}},
		{Volume, volumeCase(), []string{"volume"}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := explainPod(t, tc.snap, "p")
			v := verdictOf(t, e, "pool")
			if e.Outcome.Kind != OutcomeUnschedulable || v.Verdict != VerdictBlocked || !slices.Equal(kinds(v.Reasons), []Kind{tc.kind}) {
				t.Fatalf("outcome %+v, verdict %+v: want blocked by %s alone", e.Outcome, v, tc.kind)
			}
			for _, w := range tc.in {
				if !strings.Contains(v.Reasons[0].Message, w) {
					t.Errorf("message %q lacks %q", v.Reasons[0].Message, w)
				}
			}
			if v.Reasons[0].Change == "" {
				t.Error("no change named")
			}
		})
	}
}

// Several constraints at once on one NodePool: all are listed, each confirmed.
func TestExplainSeveralReasonsOnOneNodePool(t *testing.T) {
	snap := &engine.Snapshot{
		NodePools: []*karpv1.NodePool{nodePool("general", limited("8"), tainted("team", "a"),
			requiring(req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64")))},
		PendingPods: []*corev1.Pod{pod("big", "12", selecting(corev1.LabelArchStable, "amd64"))},
	}
	e := explainPod(t, snap, "big")
	v := verdictOf(t, e, "general")
	if got := kinds(v.Reasons); !slices.Equal(got, []Kind{Taint, Requirement, Limit}) || v.Alternatives {
		t.Fatalf("reasons %v (alternatives %v), want Taint, Requirement, Limit all needed", got, v.Alternatives)
	}
	for _, r := range v.Reasons {
		if !r.Apply(snap.PendingPods[0], snap.NodePools[0]) {
			t.Fatalf("%s not applicable", r.Kind)
		}
	}
	if e := explainPod(t, snap, "big"); e.Outcome.Kind != OutcomeNewNodeClaim || e.Outcome.NodePool != "general" {
		t.Fatalf("after the changes: %+v", e.Outcome)
	}
}

// A pod that fits: the NodePool that launches, the one Karpenter tries later, and the ranking.
func TestExplainLaunchesAndRanks(t *testing.T) {
	snap := &engine.Snapshot{
		NodePools:   []*karpv1.NodePool{nodePool("first", weighted(5), limited("100")), nodePool("second")},
		Nodes:       []*corev1.Node{node("n1", "first", "c-4x-amd64-linux", "4")},
		PendingPods: []*corev1.Pod{pod("p", "6")},
	}
	e := explainPod(t, snap, "p")
	if e.Outcome.Kind != OutcomeNewNodeClaim || e.Outcome.NodePool != "first" || !e.Placed() {
		t.Fatalf("outcome %+v", e.Outcome)
	}
	if v := verdictOf(t, e, "first"); v.Verdict != VerdictLaunches {
		t.Errorf("first %+v", v)
	}
	if v := verdictOf(t, e, "second"); v.Verdict != VerdictLaunchable || !strings.Contains(v.Message, "tries NodePool first first") {
		t.Errorf("second %+v", v)
	}
	it := e.InstanceTypes
	if it == nil || len(it.Compatible) == 0 || it.Compatible[0].Name != e.Outcome.NodeClaim.InstanceType {
		t.Fatalf("ranking %+v, want the NodeClaim's type %s first", it, e.Outcome.NodeClaim.InstanceType)
	}
	r := it.Removed
	if r.Requirements == 0 || r.TooSmall == 0 || r.OverLimit == 0 || r.Requirements+r.TooSmall+r.OverLimit+r.NoOffering+len(it.Compatible) != it.Total {
		t.Errorf("removed %+v of %d with %d compatible: every cause expected, and the counts must add up", r, it.Total, len(it.Compatible))
	}
}

func bound(p *corev1.Pod, nodeName string) *corev1.Pod {
	p.Spec.NodeName = nodeName
	p.Labels["app"] = "db"
	p.Status.Phase = corev1.PodRunning
	return p
}

func antiAffinity(app, key string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: key, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		}}}}
	}
}

func hostPort(port int32) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port})
	}
}

func daemonSet(port int32) *appsv1.DaemonSet {
	tmpl := pod("agent", "100m", hostPort(port))
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: tmpl.Labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: tmpl.Labels}, Spec: tmpl.Spec}},
	}
}

// volumeCase: the pod's claim is bound to a volume in test-zone-b; the NodePool launches in zone a.
func volumeCase() *engine.Snapshot {
	sc := "standard"
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv-b"},
		Spec: corev1.PersistentVolumeSpec{
			StorageClassName: sc, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"test-zone-b"}}},
			}}}},
		},
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default"},
		Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-b", StorageClassName: &sc},
		Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
	}
	p := pod("p", "1")
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	return &engine.Snapshot{
		NodePools:   []*karpv1.NodePool{nodePool("pool", requiring(req(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "test-zone-a")))},
		PendingPods: []*corev1.Pod{p}, PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{pvc}, PersistentVolumes: []*corev1.PersistentVolume{pv},
	}
}

// A pod that selects another NodePool by name: the NodePool it does not select is blocked by that
// requirement, proven by the pod scheduling there without it, and the change is the pod's.
func TestExplainPodSelectsAnotherNodePool(t *testing.T) {
	snap := &engine.Snapshot{
		NodePools:   []*karpv1.NodePool{nodePool("default"), nodePool("capped", limited("1"))},
		PendingPods: []*corev1.Pod{pod("app", "2", selecting(karpv1.NodePoolLabelKey, "capped"))},
	}
	e := explainPod(t, snap, "app")
	d := verdictOf(t, e, "default")
	if d.Verdict != VerdictBlocked || len(d.Reasons) != 1 || d.Reasons[0].Kind != Requirement || d.Reasons[0].Key != karpv1.NodePoolLabelKey ||
		!strings.Contains(d.Reasons[0].Change, "let the pod select NodePool default") {
		t.Fatalf("default %+v", d)
	}
	p := snap.PendingPods[0].DeepCopy()
	np := snap.NodePools[0].DeepCopy()
	if !d.Reasons[0].Apply(p, np) || len(p.Spec.NodeSelector) != 0 {
		t.Errorf("applied: node selector %v", p.Spec.NodeSelector)
	}
	if c := verdictOf(t, e, "capped"); c.Verdict != VerdictBlocked || !slices.Equal(kinds(c.Reasons), []Kind{Limit}) {
		t.Errorf("capped %+v", c)
	}
}
