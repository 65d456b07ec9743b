package drill

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
)

// The sandbox's shape: Karpenter's 15 s lease, batch window 1 s / 10 s, the new leader acquires 16 s
// after the eviction; the probe was created at once and marked Unschedulable by the scheduler.
func probeCase() probeInput {
	action := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	acquired := action.Add(16*time.Second + 200*time.Millisecond)
	return probeInput{
		plan: &ProbePlan{Pod: "karpctl-probe-d", Namespace: "karpenter", NodePool: "default",
			BatchIdleSeconds: 1, BatchMaxSeconds: 10, StartupSeconds: 5, LaunchSeconds: 10, LaunchFrom: "kwok"},
		slack: time.Second, action: action, acquired: acquired, leaderHit: true, newLeader: "k-b_2",
		created: action.Add(50 * time.Millisecond), unschedulable: action.Add(60 * time.Millisecond),
		claimSeen: acquired.Add(2500 * time.Millisecond), claimCreation: acquired.Add(2 * time.Second).Truncate(time.Second),
		ready: acquired.Add(3 * time.Second), running: acquired.Add(3200 * time.Millisecond),
		claim: "default-abcde", node: "default-abcde", instanceType: "c-1x-amd64-linux",
	}
}

func TestJudgeProbe(t *testing.T) {
	r := judgeProbe(probeCase())
	if r.Result != Pass || r.CreatedBy != "k-b_2" || r.NodeClaimSeconds != 18.7 || r.ResumeSeconds != 2.5 || r.ResumeBoundSeconds != 16 || r.RunningSeconds != 19.4 {
		t.Fatalf("%+v", r)
	}
	if !strings.HasPrefix(r.Reason, "provisioning resumed after 18.700s (NodeClaim default-abcde 2.500s after the new leader acquired the lease ≤ 16.000s: new leader's controller start 5s + batch window max 10s + slack 1s)") {
		t.Fatalf("reason %q", r.Reason)
	}
	for name, tc := range map[string]struct {
		change func(*probeInput)
		want   string
	}{
		"slow provisioner":           {func(in *probeInput) { in.claimSeen = in.acquired.Add(17 * time.Second) }, "17.000s after the new leader acquired the lease > 16.000s"},
		"the old leader launched it": {func(in *probeInput) { in.claimCreation = in.acquired.Add(-2 * time.Second) }, "before the new leader acquired the lease"},
		"no NodeClaim":               {func(in *probeInput) { in.claimSeen, in.claim = time.Time{}, "" }, "provisioning did not resume: no NodeClaim was created for the probe and Karpenter said nothing about it"},
		"Karpenter refused": {func(in *probeInput) {
			in.claimSeen, in.claim, in.refusal, in.refused = time.Time{}, "", "using label kubernetes.io/hostname is not allowed", in.acquired.Add(3*time.Second)
		}, "Karpenter refused the probe: using label kubernetes.io/hostname is not allowed (a problem of the probe karpctl built, not of Karpenter's failover)"},
		"nominated only": {func(in *probeInput) {
			in.claimSeen, in.claim, in.nominated = time.Time{}, "", in.acquired.Add(time.Second)
		}, "Karpenter nominated the probe 17.2s after the action, but no NodeClaim"},
		"no new leader": {func(in *probeInput) { in.acquired = time.Time{} }, "no new leader acquired the lease"},
		"never ran":     {func(in *probeInput) { in.running = time.Time{} }, "but the probe never ran"},
		"slow node":     {func(in *probeInput) { in.running = in.claimSeen.Add(12 * time.Second) }, "12.000s after its NodeClaim > 11.000s"},
		"probe failed":  {func(in *probeInput) { in.failure = "creating pod: forbidden" }, "probe failed: creating pod: forbidden"},
	} {
		in := probeCase()
		tc.change(&in)
		if r := judgeProbe(in); r.Result != Fail || !strings.Contains(r.Reason, tc.want) {
			t.Errorf("%s: %s %q", name, r.Result, r.Reason)
		}
	}
	// The leader kept the lease (zone outage elsewhere): counted from the probe, no controller start.
	kept := probeCase()
	kept.leaderHit, kept.acquired, kept.claimSeen, kept.claimCreation = false, time.Time{}, kept.created.Add(1500*time.Millisecond), kept.created.Truncate(time.Second)
	kept.running = kept.claimSeen.Add(time.Second)
	if r := judgeProbe(kept); r.Result != Pass || r.ResumeBoundSeconds != 11 || !strings.Contains(r.Reason, "after the probe was created") {
		t.Fatalf("leader kept: %+v", r)
	}
	// A NodeClaim created in the same second as the acquisition is the new leader's (whole seconds).
	same := probeCase()
	same.claimCreation = same.acquired.Truncate(time.Second)
	if r := judgeProbe(same); r.Result != Pass {
		t.Fatalf("same second: %s", r.Reason)
	}
}

// The probe reads Karpenter's events on its pod: kube-scheduler's FailedScheduling is not Karpenter's
// answer; Karpenter's ends the probe with its words, unless a NodeClaim was already created after it.
func TestProbeEvents(t *testing.T) {
	pr := &prober{ctx: context.Background(), plan: &ProbePlan{Pod: "karpctl-probe-d"}, now: time.Now, evs: make(chan Event, 8), claims: map[string]*probeClaim{}}
	ev := func(component, reason, msg string) *corev1.Event {
		return &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "karpctl-probe-d"}, Source: corev1.EventSource{Component: component}, Reason: reason, Message: msg}
	}
	if pr.onEvent(ev("default-scheduler", "FailedScheduling", "0/3 nodes are available")) || pr.refusal != "" {
		t.Fatal("kube-scheduler's event taken for Karpenter's")
	}
	if pr.onEvent(ev("karpenter", "Nominated", "Pod should schedule on: nodeclaim/default-x")) || pr.nominatedAt.IsZero() {
		t.Fatal("Nominated")
	}
	if !pr.onEvent(ev("karpenter", "FailedScheduling", "Failed to schedule pod, using label kubernetes.io/hostname is not allowed")) ||
		pr.refusal != "using label kubernetes.io/hostname is not allowed" || (<-pr.evs).Kind != EvProbeNominated || (<-pr.evs).Kind != EvProbeRefused {
		t.Fatalf("refusal %q", pr.refusal)
	}
	pr.claims["default-y"] = &probeClaim{name: "default-y"}
	if pr.onEvent(ev("karpenter", "FailedScheduling", "later")) {
		t.Fatal("a refusal after a NodeClaim ended the probe")
	}
	if probeEventsSelector("p") != "involvedObject.kind=Pod,involvedObject.name=p" {
		t.Fatal(probeEventsSelector("p"))
	}
}

func TestProbeHelpers(t *testing.T) {
	if got := nominated("Pod should schedule on: nodeclaim/default-x8z2k, node/ip-10-0-1-2"); len(got) != 1 || got[0] != "default-x8z2k" {
		t.Fatalf("nominated %v", got)
	}
	if nominated("Pod should schedule on: node/n1") != nil || nominated("something else") != nil {
		t.Fatal("names from a message without a nodeclaim")
	}
	half := halfOf(corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("900m"), corev1.ResourceMemory: resource.MustParse("2038Mi")})
	if half.Cpu().String() != "450m" || half.Memory().String() != "1019Mi" {
		t.Fatalf("half %v", half)
	}
	if idle, max := batchWindow(nil); idle != time.Second || max != 10*time.Second {
		t.Fatalf("Karpenter's default batch window: %s %s", idle, max)
	}
	if idle, max := batchWindow(settings(t, "BATCH_MAX_DURATION=30s")); idle != time.Second || max != 30*time.Second {
		t.Fatalf("batch %s %s", idle, max)
	}
	if r, err := ParseRequests("cpu=500m, memory=512Mi"); err != nil || r.Cpu().String() != "500m" || r.Memory().String() != "512Mi" {
		t.Fatalf("%v %v", r, err)
	}
	for _, bad := range []string{"cpu", "cpu=-1", "=1", "cpu=lots"} {
		if _, err := ParseRequests(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func nodePoolObject(name, group, kind string, taint bool) *unstructured.Unstructured {
	spec := map[string]any{"template": map[string]any{"spec": map[string]any{
		"nodeClassRef": map[string]any{"group": group, "kind": kind, "name": "default"},
		"requirements": []any{map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}},
			map[string]any{"key": "kubernetes.io/os", "operator": "In", "values": []any{"linux"}}},
	}}}
	if taint {
		spec["template"].(map[string]any)["spec"].(map[string]any)["taints"] = []any{map[string]any{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": name}, "spec": spec,
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": "2026-12-01T10:00:00Z"}}},
	}}
}

// kwokNode is a Ready node of NodePool pool, of instance type it in zone, with room for any probe.
func kwokNode(name, pool, it, zone string) *corev1.Node {
	room := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{karpv1.NodePoolLabelKey: pool, corev1.LabelHostname: name,
		corev1.LabelInstanceTypeStable: it, corev1.LabelTopologyZone: zone, corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		karpv1.NodeRegisteredLabelKey: "true", karpv1.NodeInitializedLabelKey: "true"}},
		Spec:   corev1.NodeSpec{ProviderID: "kwok://" + name},
		Status: corev1.NodeStatus{Capacity: room, Allocatable: room, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func probeKube(objs ...runtime.Object) Kube {
	kinds := map[schema.GroupVersionResource]string{NodePoolResource: "NodePoolList", NodeClaimResource: "NodeClaimList",
		{Group: "karpenter.sh", Version: "v1alpha1", Resource: "nodeoverlays"}: "NodeOverlayList"}
	var kube, dyn []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*unstructured.Unstructured); ok {
			dyn = append(dyn, o)
		} else {
			kube = append(kube, o)
		}
	}
	return Kube{C: fake.NewClientset(kube...), D: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, dyn...)}
}

// The probe gate names the NodePool Karpenter tries first and builds a pod only a new node of it can
// take: it selects the NodePool, tolerates its taints, leaves out the instance types of its nodes and
// the lost zone. Karpenter's scheduler, fed the live cluster (two nodes of the NodePool with room to
// spare) plus the probe, launches a new NodeClaim for it; without a catalog for the NodeClass the
// gate refuses unless --probe-requests is given.
func TestProbeGate(t *testing.T) {
	k := &discovery.Karpenter{Namespace: "karpenter"}
	c := probeKube(kwokNode("n-1", "batch", "c-1x-amd64-linux", "test-zone-b"), kwokNode("n-2", "batch", "c-2x-amd64-linux", "test-zone-c"),
		nodePoolObject("batch", "karpenter.kwok.sh", "KWOKNodeClass", true))
	p := &Preflight{ID: "drill-x"}
	g, err := probeGate(context.Background(), c, k, Options{Kind: ZoneOutage, Zone: "test-zone-a", ProbeStartup: DefaultProbeStartup, Settings: settings(t, "BATCH_MAX_DURATION=20s")}, p)
	if err != nil || !g.Passed {
		t.Fatalf("gate %+v %v", g, err)
	}
	pl := p.Plan.Probe
	if pl.NodePool != "batch" || pl.InstanceType == "" || pl.InstanceType == "c-1x-amd64-linux" || pl.InstanceType == "c-2x-amd64-linux" ||
		pl.ExcludedNodes != 2 || strings.Join(pl.ExcludedInstanceTypes, ",") != "c-1x-amd64-linux,c-2x-amd64-linux" || pl.BatchMaxSeconds != 20 || pl.LaunchSeconds != KwokLaunchAllowance.Seconds() {
		t.Fatalf("plan %+v", pl)
	}
	if pl.PredictedInstanceType != pl.InstanceType || pl.PredictedZone == "" || pl.PredictedZone == "test-zone-a" ||
		!strings.Contains(g.Message, "Karpenter would launch "+pl.InstanceType+" in "+pl.PredictedZone+" for the probe") {
		t.Fatalf("Karpenter's scheduler: %+v; gate %q", pl, g.Message)
	}
	pod := pl.pod
	terms := pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions
	if pod.Spec.NodeSelector[karpv1.NodePoolLabelKey] != "batch" || pod.Labels[ProbeLabel] != "drill-x" || len(terms) != 2 ||
		terms[0].Key != corev1.LabelInstanceTypeStable || terms[0].Operator != corev1.NodeSelectorOpNotIn || len(terms[0].Values) != 2 ||
		terms[1].Key != corev1.LabelTopologyZone || terms[1].Values[0] != "test-zone-a" ||
		len(pod.Spec.Tolerations) != 1 || pod.Spec.Tolerations[0].Key != "dedicated" {
		t.Fatalf("pod %+v", pod.Spec)
	}

	other := probeKube(nodePoolObject("gpu", "example.com", "OtherNodeClass", false))
	g, err = probeGate(context.Background(), other, k, Options{Kind: LeaderKill}, &Preflight{ID: "drill-y"})
	if err != nil || g.Passed || !strings.Contains(g.Message, "no embedded instance-type catalog serves its NodeClass OtherNodeClass.example.com/default") || !strings.Contains(g.Message, "--probe-requests") {
		t.Fatalf("no catalog: %+v %v", g, err)
	}
	// --probe-requests lets the NodePool be chosen; Karpenter's scheduler has no instance types for it,
	// so the gate still refuses: no drill starts with a probe karpctl cannot show Karpenter launches.
	reqs, _ := ParseRequests("cpu=1,memory=1Gi")
	p = &Preflight{ID: "drill-z"}
	if g, err = probeGate(context.Background(), other, k, Options{Kind: LeaderKill, ProbeRequests: reqs}, p); err != nil || g.Passed || p.Plan.Probe.NodePool != "gpu" || p.Plan.Probe.RequestsFrom != "--probe-requests" ||
		p.Plan.Probe.LaunchSeconds != CloudLaunchAllowance.Seconds() || !strings.Contains(g.Message, "Karpenter's scheduler has no NodePool to launch the probe with") {
		t.Fatalf("--probe-requests: %+v %v %+v", g, err, p.Plan.Probe)
	}
}

// Every instance type the NodePool can launch is already one of its nodes': no probe can be built, and
// the gate says why.
func TestProbeGateEveryTypeInUse(t *testing.T) {
	np := nodePoolObject("one", "karpenter.kwok.sh", "KWOKNodeClass", false)
	np.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["requirements"] = []any{
		map[string]any{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []any{"c-1x-amd64-linux"}}}
	c := probeKube(kwokNode("n-1", "one", "c-1x-amd64-linux", "test-zone-b"), np)
	g, err := probeGate(context.Background(), c, &discovery.Karpenter{Namespace: "karpenter"}, Options{Kind: LeaderKill}, &Preflight{ID: "drill-w"})
	if err != nil || g.Passed || !strings.Contains(g.Message, "other than those of its nodes (c-1x-amd64-linux)") {
		t.Fatalf("gate %+v %v", g, err)
	}
}

// Karpenter's scheduler judges probe shapes the way the running Karpenter does: the old probe, which
// excluded the NodePool's nodes by kubernetes.io/hostname, is refused in Karpenter's words; a probe
// that excludes nothing fits an existing node. Either refuses the drill.
func TestVerifyProbeRefusals(t *testing.T) {
	k := &discovery.Karpenter{Namespace: "karpenter"}
	c := probeKube(kwokNode("n-1", "batch", "c-1x-amd64-linux", "test-zone-b"), nodePoolObject("batch", "karpenter.kwok.sh", "KWOKNodeClass", false))
	p := &Preflight{ID: "drill-v"}
	if g, err := probeGate(context.Background(), c, k, Options{Kind: LeaderKill}, p); err != nil || !g.Passed {
		t.Fatalf("gate %+v %v", g, err)
	}
	pl := p.Plan.Probe
	terms := &pl.pod.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0]
	terms.MatchExpressions = []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"n-1"}}}
	_, refusal, err := verifyProbe(context.Background(), c, pl, nil)
	if err != nil || !strings.Contains(refusal, "Karpenter would not launch a node for the probe: using label kubernetes.io/hostname is not allowed as it might interfere with the internal provisioning logic") {
		t.Fatalf("old probe shape: %q %v", refusal, err)
	}
	pl.pod.Spec.Affinity = nil
	if _, refusal, err = verifyProbe(context.Background(), c, pl, nil); err != nil || refusal != "Karpenter would place the probe on existing node n-1, so it would not measure provisioning" {
		t.Fatalf("no exclusion: %q %v", refusal, err)
	}
}

// settings are Karpenter's, parsed by its own option parser, with overrides NAME=VALUE.
func settings(t *testing.T, overrides ...string) *ksettings.Settings {
	t.Helper()
	s, err := ksettings.Resolve(context.Background(), ksettings.Input{Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The probe is planned and checked with the settings of the cluster's Karpenter: a NodePool whose
// minValues the catalog cannot meet launches nothing under Karpenter's default Strict policy, so the
// gate refuses; with MIN_VALUES_POLICY=BestEffort Karpenter relaxes minValues and the probe passes.
func TestProbeGateRunsWithKarpentersSettings(t *testing.T) {
	np := nodePoolObject("picky", "karpenter.kwok.sh", "KWOKNodeClass", false)
	spec := np.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	spec["requirements"] = append(spec["requirements"].([]any),
		map[string]any{"key": "node.kubernetes.io/instance-type", "operator": "Exists", "minValues": int64(5000)})
	c := probeKube(np)
	k := &discovery.Karpenter{Namespace: "karpenter"}
	g, err := probeGate(context.Background(), c, k, Options{Kind: LeaderKill}, &Preflight{ID: "drill-s"})
	if err != nil || g.Passed || !strings.Contains(g.Message, "but Karpenter would not launch a node for the probe") {
		t.Fatalf("Strict: gate %+v %v; want refused by Karpenter's scheduler", g, err)
	}
	p := &Preflight{ID: "drill-t"}
	g, err = probeGate(context.Background(), c, k, Options{Kind: LeaderKill, Settings: settings(t, "MIN_VALUES_POLICY=BestEffort")}, p)
	if err != nil || !g.Passed || p.Plan.Probe.PredictedInstanceType != p.Plan.Probe.InstanceType {
		t.Fatalf("BestEffort: gate %+v %v, plan %+v; want passed", g, err, p.Plan.Probe)
	}
}
