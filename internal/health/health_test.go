package health

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/units"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func karpenterPod(name string, ready bool) corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: name},
		Spec:       corev1.PodSpec{NodeName: "node-" + name},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "controller"}}},
	}
}

func replicaMetrics(leader float64) MetricsResult {
	return MetricsResult{Metrics: &ReplicaMetrics{LeaderStatus: ptr.To(leader), Requests: map[string]float64{"200": 100}, Total: 100,
		LatencyCount: 100, LatencyMeanSec: 0.01, LatencyP99Sec: 0.1}}
}

// healthy is two Ready replicas, kp-a holding a freshly renewed lease and the only one whose
// metrics say it leads.
func healthy() Input {
	return Input{
		Deployment: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter"},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 2}},
		Lease: lease.Status{Namespace: "karpenter", Name: "karpenter-leader-election", Verdict: lease.Healthy, HolderIdentity: "kp-a_1",
			Holder: &lease.Holder{Pod: "kp-a"}, RenewAge: units.Seconds(2 * time.Second), LeaseDuration: units.Seconds(15 * time.Second), Replicas: 2},
		Pods:    []corev1.Pod{karpenterPod("kp-a", true), karpenterPod("kp-b", true)},
		Metrics: map[string]MetricsResult{"kp-a": replicaMetrics(1), "kp-b": replicaMetrics(0)},
		Now:     now,
	}
}

func TestEvaluateHealthy(t *testing.T) {
	r := Evaluate(healthy())
	if r.Verdict != OK || r.Namespace != "karpenter" || r.Deployment != "karpenter" || r.Lease != "karpenter/karpenter-leader-election" {
		t.Fatalf("%+v", r)
	}
	var names []string
	for _, c := range r.Checks {
		names = append(names, c.Name)
		if c.Status != OK {
			t.Errorf("%s: %s %s", c.Name, c.Status, c.Message)
		}
	}
	want := "deployment leader lease-renewal followers restarts/kp-a restarts/kp-b events metrics/kp-a metrics/kp-b metrics/leader-status"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("checks %s, want %s", got, want)
	}
	if len(r.Metrics) != 2 {
		t.Fatalf("metrics %v", r.Metrics)
	}
}

// Each case changes the healthy input and names the check it affects, with its status and a part
// of its message.
func TestEvaluateChecks(t *testing.T) {
	terminating := metav1.NewTime(now)
	for _, tc := range []struct {
		name   string
		change func(in *Input)
		check  string
		want   Status
		msg    string
	}{
		{"deployment down", func(in *Input) { in.Deployment.Status.ReadyReplicas = 0 }, "deployment", Fail, "Karpenter is down"},
		{"deployment degraded", func(in *Input) { in.Deployment.Status.ReadyReplicas = 1 }, "deployment", Warn, "no standby"},
		{"lease only", func(in *Input) { in.Deployment = nil }, "deployment", Skipped, "only --lease given"},
		{"lease only, followers", func(in *Input) { in.Deployment = nil }, "followers", Skipped, "cannot be listed"},
		{"lease missing", func(in *Input) { in.Lease.Verdict, in.Lease.Holder = lease.Missing, nil }, "leader", Fail, "is Missing"},
		{"lease missing, renewal", func(in *Input) { in.Lease.Verdict = lease.Missing }, "lease-renewal", Skipped, "no held lease"},
		{"disabled, one replica", func(in *Input) {
			in.Lease.Verdict, in.Lease.Replicas, in.Lease.Reason = lease.Disabled, 1, "leader election is disabled"
		}, "leader", OK, "disabled"},
		{"disabled, two replicas", func(in *Input) { in.Lease.Verdict, in.Lease.Reason = lease.Disabled, "two leaders" }, "leader", Fail, "two leaders"},
		{"holder not a pod", func(in *Input) { in.Lease.Holder = &lease.Holder{} }, "leader", Fail, "is not a Karpenter pod"},
		{"holder terminating", func(in *Input) { in.Pods[0].DeletionTimestamp = &terminating }, "leader", Fail, "terminating"},
		{"holder not ready", func(in *Input) { in.Pods[0] = karpenterPod("kp-a", false) }, "leader", Fail, "ready=false"},
		{"stale", func(in *Input) { in.Lease.Verdict, in.Lease.Reason = lease.Stale, "late" }, "lease-renewal", Fail, "is Stale: late"},
		{"no follower", func(in *Input) { in.Pods = in.Pods[:1] }, "followers", Warn, "no follower"},
		{"follower not ready", func(in *Input) { in.Pods[1] = karpenterPod("kp-b", false) }, "followers", Warn, "kp-b (Running, ready=false)"},
		{"restarted", func(in *Input) { in.Pods[1].Status.ContainerStatuses[0].RestartCount = 2 }, "restarts/kp-b", Warn, "2 restarts"},
		{"OOMKilled", func(in *Input) {
			cs := &in.Pods[1].Status.ContainerStatuses[0]
			cs.RestartCount = 1
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		}, "restarts/kp-b", Warn, "last terminated: OOMKilled (exit 137); container controller is waiting: CrashLoopBackOff"},
		{"warning event", func(in *Input) { in.Events = []corev1.Event{event("kp-b", "BackOff", now.Add(-time.Minute))} }, "events", Warn, "kp-b BackOff ×1"},
		{"old warning event", func(in *Input) { in.Events = []corev1.Event{event("kp-b", "BackOff", now.Add(-2*time.Hour))} }, "events", OK, "no Warning events"},
		{"resolved scheduling", func(in *Input) { in.Events = []corev1.Event{event("kp-b", "FailedScheduling", now)} }, "events", OK, "1 FailedScheduling since resolved"},
		{"events unreadable", func(in *Input) { in.EventsSkipped = "forbidden" }, "events", Skipped, "forbidden"},
		{"metrics off", func(in *Input) { in.MetricsSkipped = "--no-metrics" }, "metrics", Skipped, "--no-metrics"},
		{"not probed", func(in *Input) { delete(in.Metrics, "kp-b") }, "metrics/kp-b", Skipped, "not probed"},
		{"unreadable", func(in *Input) { in.Metrics["kp-b"] = MetricsResult{Err: "connection refused"} }, "metrics/kp-b", Skipped, "connection refused"},
		{"API errors", func(in *Input) { in.Metrics["kp-b"].Metrics.Errors = 10 }, "metrics/kp-b", Warn, "10.0% of requests failed"},
		{"slow API server", func(in *Input) { in.Metrics["kp-b"].Metrics.LatencyP99Sec = 2.5 }, "metrics/kp-b", Warn, "slow API server"},
		{"follower leads", func(in *Input) {
			in.Metrics = map[string]MetricsResult{"kp-a": replicaMetrics(0), "kp-b": replicaMetrics(1)}
		}, "metrics/leader-status", Fail, `kp-b says it leads but the lease holder is "kp-a"`},
		{"two lead", func(in *Input) { in.Metrics["kp-b"] = replicaMetrics(1) }, "metrics/leader-status", Fail, "2 replicas report"},
		{"none read", func(in *Input) { in.Metrics = nil }, "metrics/leader-status", Skipped, "no replica's metrics could be read"},
		{"leader unread", func(in *Input) { delete(in.Metrics, "kp-a") }, "metrics/leader-status", Skipped, "1 replicas could not be read"},
		{"nobody leads", func(in *Input) { in.Metrics["kp-a"] = replicaMetrics(0) }, "metrics/leader-status", Fail, "nobody believes it leads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := healthy()
			tc.change(&in)
			r := Evaluate(in)
			c := find(t, r, tc.check)
			if c.Status != tc.want || !strings.Contains(c.Message, tc.msg) {
				t.Fatalf("%s: %s %q, want %s with %q", tc.check, c.Status, c.Message, tc.want, tc.msg)
			}
			if tc.want.rank() > r.Verdict.rank() {
				t.Fatalf("verdict %s below the check's %s", r.Verdict, tc.want)
			}
		})
	}
}

func event(pod, reason string, at time.Time) corev1.Event {
	return corev1.Event{Type: corev1.EventTypeWarning, Reason: reason, Message: "back-off\n restarting",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod}, LastTimestamp: metav1.NewTime(at)}
}
