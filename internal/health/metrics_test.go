package health

import (
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/units"
)

func load(t *testing.T, name string) ReplicaMetrics {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseMetrics(f, "karpenter-leader-election")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The recorded /metrics of a real Karpenter v1.15.0 leader and follower.
func TestParseRecordedKarpenterMetrics(t *testing.T) {
	l := load(t, "karpenter-v1.15.0-leader.metrics.txt")
	if l.LeaderStatus == nil || *l.LeaderStatus != 1 {
		t.Fatalf("leader status %v", l.LeaderStatus)
	}
	// client_go_request_total: 200 GET 11, PATCH 5, PUT 4; 201 POST 5; 404 GET 1; 409 PATCH 1.
	if l.Total != 27 || l.Requests["200"] != 20 || l.Requests["201"] != 5 || l.Non2xx != 2 || l.Errors != 0 || l.Throttled != 0 {
		t.Fatalf("leader requests %+v", l)
	}
	if l.LatencyCount == 0 || l.LatencyMeanSec <= 0 || l.LatencyP99Sec <= 0 || l.LatencyP99Sec > 3 {
		t.Fatalf("leader latency %+v", l)
	}
	f := load(t, "karpenter-v1.15.0-follower.metrics.txt")
	if f.LeaderStatus == nil || *f.LeaderStatus != 0 {
		t.Fatalf("follower status %v", f.LeaderStatus)
	}
	if f.Total != 10 || f.Throttled != 1 || f.Errors != 1 || f.Non2xx != 1 {
		t.Fatalf("follower requests %+v", f)
	}
}

func TestParseRejectsGarbage(t *testing.T) {
	if _, err := ParseMetrics(strings.NewReader("not { metrics"), ""); err == nil {
		t.Fatal("want a parse error")
	}
}

func TestParseOtherLeaseName(t *testing.T) {
	f, _ := os.Open("testdata/karpenter-v1.15.0-leader.metrics.txt")
	defer f.Close()
	m, err := ParseMetrics(f, "other-lease")
	if err != nil || m.LeaderStatus != nil {
		t.Fatalf("%v %v", m.LeaderStatus, err)
	}
}

// scenario builds a healthy two-replica input whose metrics are the recorded ones.
func scenario(t *testing.T) Input {
	now := time.Now()
	renew := now.Add(-time.Second)
	two := int32(2)
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	pod := func(name string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "karpenter"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready, ContainerStatuses: []corev1.ContainerStatus{{Name: "controller"}}}}
	}
	l, fo := load(t, "karpenter-v1.15.0-leader.metrics.txt"), load(t, "karpenter-v1.15.0-follower.metrics.txt")
	return Input{
		Deployment: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "karpenter", Namespace: "karpenter"}, Spec: appsv1.DeploymentSpec{Replicas: &two}, Status: appsv1.DeploymentStatus{ReadyReplicas: 2}},
		Lease: lease.Status{Namespace: "karpenter", Name: "karpenter-leader-election", Verdict: lease.Healthy, HolderIdentity: "k-a_1",
			Holder: &lease.Holder{Pod: "k-a"}, RenewTime: &renew, RenewAge: units.Seconds(time.Second), LeaseDuration: units.Seconds(15 * time.Second)},
		Pods:    []corev1.Pod{pod("k-a"), pod("k-b")},
		Metrics: map[string]MetricsResult{"k-a": {Metrics: &l}, "k-b": {Metrics: &fo}},
		Now:     now,
	}
}

func find(t *testing.T, r Report, name string) Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %s in %+v", name, r.Checks)
	return Check{}
}

func TestHealthyWithRecordedMetrics(t *testing.T) {
	r := Evaluate(scenario(t))
	if r.Verdict != OK {
		t.Fatalf("verdict %s: %+v", r.Verdict, r.Checks)
	}
	if c := find(t, r, "metrics/leader-status"); c.Status != OK || !strings.Contains(c.Message, "k-a") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "metrics/k-b"); !strings.Contains(c.Message, "429s 1") {
		t.Fatalf("%+v", c)
	}
	for _, c := range r.Checks {
		t.Logf("%-8s %-22s %s", c.Status, c.Name, c.Message)
	}
}

func TestMetricsDisagreeWithLease(t *testing.T) {
	in := scenario(t)
	in.Lease.HolderIdentity, in.Lease.Holder = "k-b_1", &lease.Holder{Pod: "k-b"}
	r := Evaluate(in)
	if c := find(t, r, "metrics/leader-status"); c.Status != Fail || !strings.Contains(c.Message, `lease holder is "k-b"`) {
		t.Fatalf("%+v", c)
	}
	// Both claim leadership: split brain.
	in = scenario(t)
	one := 1.0
	m := *in.Metrics["k-b"].Metrics
	m.LeaderStatus = &one
	in.Metrics["k-b"] = MetricsResult{Metrics: &m}
	if c := find(t, Evaluate(in), "metrics/leader-status"); c.Status != Fail || !strings.Contains(c.Message, "2 replicas") {
		t.Fatalf("%+v", c)
	}
}

func TestMetricsErrorsAndSkips(t *testing.T) {
	in := scenario(t)
	m := *in.Metrics["k-b"].Metrics
	m.Requests = map[string]float64{"200": 50, "429": 10, "503": 5}
	m.Total, m.Errors, m.Throttled, m.Non2xx = 65, 15, 10, 15
	in.Metrics["k-b"] = MetricsResult{Metrics: &m}
	in.Metrics["k-a"] = MetricsResult{Err: `GET pods/proxy k-a:8080/metrics: pods "k-a" is forbidden: User "ro" cannot get resource "pods/proxy"`}
	r := Evaluate(in)
	if c := find(t, r, "metrics/k-b"); c.Status != Warn || !strings.Contains(c.Message, "429s 10") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "metrics/k-a"); c.Status != Skipped || !strings.Contains(c.Message, `"pods/proxy"`) {
		t.Fatalf("%+v", c)
	}
	// The only readable replica says 0; the unreadable one might lead: SKIPPED, not FAIL.
	if c := find(t, r, "metrics/leader-status"); c.Status != Skipped {
		t.Fatalf("%+v", c)
	}
	if r.Verdict != Warn {
		t.Fatalf("verdict %s", r.Verdict)
	}
}

func TestStaleLeaseAndCrashLoop(t *testing.T) {
	in := scenario(t)
	in.Lease.Verdict, in.Lease.Reason, in.Lease.RenewAge = lease.Stale, "last renewed 12s ago", units.Seconds(12*time.Second)
	in.Pods[1].Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "controller", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
	in.Events = []corev1.Event{{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "k-b"}, Type: "Warning", Reason: "BackOff", Message: "Back-off restarting failed container", Count: 3, LastTimestamp: metav1.NewTime(in.Now)}}
	r := Evaluate(in)
	if c := find(t, r, "lease-renewal"); c.Status != Fail || !strings.Contains(c.Message, "karpenter/karpenter-leader-election is Stale") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "restarts/k-b"); c.Status != Warn || !strings.Contains(c.Message, "OOMKilled") || !strings.Contains(c.Message, "CrashLoopBackOff") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "events"); c.Status != Warn || !strings.Contains(c.Message, "k-b BackOff ×3") {
		t.Fatalf("%+v", c)
	}
	if r.Verdict != Fail {
		t.Fatalf("verdict %s", r.Verdict)
	}
}
