// Package health judges a Karpenter installation with one line per check: the Deployment, the lease
// and its holder, the replicas' readiness, restarts and Warning events, and each replica's own
// metrics (read through the API server's pod proxy). Evaluate is pure; Read gathers its input.
package health

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// Status of one check.
type Status string

const (
	OK      Status = "OK"
	Warn    Status = "WARN"
	Fail    Status = "FAIL"
	Skipped Status = "SKIPPED"
)

func (s Status) rank() int {
	switch s {
	case Fail:
		return 3
	case Warn:
		return 2
	case OK:
		return 1
	}
	return 0
}

// Check is one line of the health report. Message always says why, SKIPPED included.
type Check struct {
	Name    string `json:"name"`
	Status  Status `json:"status"`
	Message string `json:"message"`
}

// Report is `health -o json`.
type Report struct {
	Namespace  string                    `json:"namespace"`
	Deployment string                    `json:"deployment"`
	Lease      string                    `json:"lease"`
	Verdict    Status                    `json:"verdict"`
	Checks     []Check                   `json:"checks"`
	Metrics    map[string]ReplicaMetrics `json:"metrics,omitempty"`
	ObservedAt time.Time                 `json:"observedAt"`
}

// MetricsResult is one replica's metrics, or why they could not be read.
type MetricsResult struct {
	Metrics *ReplicaMetrics
	// Err is the exact error (permission, refused address, unreachable port) when Metrics is nil.
	Err string
}

// Thresholds of the metrics checks.
const (
	// ErrorShareWarn: more than 5 % of the replica's API requests failed with 5xx/429/connection errors.
	ErrorShareWarn = 0.05
	// MinErrorsWarn avoids warning on one throttled request at start-up (a Karpenter v1.15.0 follower can show one 429 at start-up).
	MinErrorsWarn = 3
	// LatencyP99Warn: the replica waits over a second for the API server on 1 % of its requests.
	LatencyP99Warn = 1.0
	// EventWindow: Warning events older than this are history, not health.
	EventWindow = time.Hour
)

// Input is everything Evaluate judges.
type Input struct {
	Deployment *appsv1.Deployment
	Lease      lease.Status
	Pods       []corev1.Pod
	Events     []corev1.Event
	// EventsSkipped, when set, is why events could not be read.
	EventsSkipped string
	// Metrics by pod name; a pod missing from the map was not probed.
	Metrics map[string]MetricsResult
	// MetricsSkipped, when set, skips every metrics check with this reason.
	MetricsSkipped string
	Now            time.Time
}

// Evaluate runs every check. Pure.
func Evaluate(in Input) Report {
	r := Report{Namespace: in.Lease.Namespace, Lease: in.Lease.Namespace + "/" + in.Lease.Name, ObservedAt: in.Now, Metrics: map[string]ReplicaMetrics{}}
	if d := in.Deployment; d != nil {
		r.Namespace, r.Deployment = d.Namespace, d.Name
	}
	add := func(name string, st Status, format string, a ...any) {
		r.Checks = append(r.Checks, Check{Name: name, Status: st, Message: fmt.Sprintf(format, a...)})
	}
	live := livePods(in.Pods)
	byName := map[string]*corev1.Pod{}
	for i := range in.Pods {
		if _, dup := byName[in.Pods[i].Name]; !dup {
			byName[in.Pods[i].Name] = &in.Pods[i]
		}
	}

	// Deployment available: ready = desired.
	if d := in.Deployment; d == nil {
		add("deployment", Skipped, "no Karpenter Deployment found (only --lease given)")
	} else {
		desired := discovery.DesiredReplicas(d)
		ready := d.Status.ReadyReplicas
		switch {
		case ready >= desired:
			add("deployment", OK, "%s/%s: %d/%d replicas ready", d.Namespace, d.Name, ready, desired)
		case ready == 0:
			add("deployment", Fail, "%s/%s: 0/%d replicas ready: Karpenter is down", d.Namespace, d.Name, desired)
		default:
			add("deployment", Warn, "%s/%s: %d/%d replicas ready: no standby for a failover", d.Namespace, d.Name, ready, desired)
		}
	}

	// Leader: exactly one holder, a Running, Ready Karpenter pod.
	st := in.Lease
	holderPod := ""
	if st.Holder != nil {
		holderPod = st.Holder.Pod
	}
	switch st.Verdict {
	case lease.Disabled:
		if st.OK() {
			add("leader", OK, "%s", st.Reason)
		} else {
			add("leader", Fail, "%s", st.Reason)
		}
	case lease.Missing, lease.NoHolder, lease.Orphaned:
		add("leader", Fail, "lease %s/%s is %s: %s", st.Namespace, st.Name, st.Verdict, st.Reason)
	default:
		var p *corev1.Pod
		if holderPod != "" {
			p = byName[holderPod]
		}
		switch {
		case p == nil:
			add("leader", Fail, "holder %q of lease %s/%s is not a Karpenter pod", st.HolderIdentity, st.Namespace, st.Name)
		case p.DeletionTimestamp != nil:
			add("leader", Fail, "leader %s is terminating", p.Name)
		case p.Status.Phase != corev1.PodRunning || !discovery.PodReady(p):
			add("leader", Fail, "leader %s is %s, ready=%t", p.Name, p.Status.Phase, discovery.PodReady(p))
		default:
			add("leader", OK, "%s holds %s/%s and is Running and Ready", p.Name, st.Namespace, st.Name)
		}
	}

	// Lease renewal age within the duration.
	switch st.Verdict {
	case lease.Disabled, lease.Missing, lease.NoHolder:
		add("lease-renewal", Skipped, "no held lease to judge (%s)", st.Verdict)
	case lease.Healthy, lease.Orphaned: // renewed within the duration, else the verdict is Expired
		add("lease-renewal", OK, "renewed %s ago (stale after %s, duration %s)", lease.Round(st.RenewAge), lease.Round(lease.StaleAfter(st.LeaseDuration)), st.LeaseDuration)
	default: // Stale, Expired
		add("lease-renewal", Fail, "lease %s/%s is %s: %s", st.Namespace, st.Name, st.Verdict, st.Reason)
	}

	// Followers Ready.
	var notReady, followers []string
	for _, p := range live {
		if p.Name == holderPod {
			continue
		}
		followers = append(followers, p.Name)
		if p.Status.Phase != corev1.PodRunning || !discovery.PodReady(&p) {
			notReady = append(notReady, fmt.Sprintf("%s (%s, ready=%t)", p.Name, p.Status.Phase, discovery.PodReady(&p)))
		}
	}
	switch {
	case in.Deployment == nil:
		// Without the Deployment's selector only the holder's pod is known: no claim about followers.
		add("followers", Skipped, "no Karpenter Deployment found (only --lease given): the followers cannot be listed")
	case len(followers) == 0:
		add("followers", Warn, "no follower: nothing can take over if the leader fails")
	case len(notReady) > 0:
		add("followers", Warn, "not ready: %s", strings.Join(notReady, ", "))
	default:
		add("followers", OK, "%d ready: %s", len(followers), strings.Join(followers, ", "))
	}

	// Restarts and termination reasons per replica.
	for _, p := range live {
		restarts, reasons := restartInfo(&p)
		switch {
		case len(reasons) > 0:
			add("restarts/"+p.Name, Warn, "%d restarts; %s", restarts, strings.Join(reasons, "; "))
		case restarts > 0:
			add("restarts/"+p.Name, Warn, "%d restarts", restarts)
		default:
			add("restarts/"+p.Name, OK, "no restarts")
		}
	}

	// Recent Warning events on the Karpenter pods.
	var warnings []string
	resolved := 0
	for _, e := range in.Events {
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "Pod" || byName[e.InvolvedObject.Name] == nil {
			continue
		}
		// A scheduling failure of a pod that has since been scheduled and turned Ready is resolved.
		if p := byName[e.InvolvedObject.Name]; e.Reason == "FailedScheduling" && p != nil && p.Spec.NodeName != "" && discovery.PodReady(p) {
			resolved++
			continue
		}
		if t := eventTime(e); !t.IsZero() && in.Now.Sub(t) > EventWindow {
			continue
		}
		n := e.Count
		if n == 0 {
			n = 1
		}
		warnings = append(warnings, fmt.Sprintf("%s %s ×%d: %s", e.InvolvedObject.Name, e.Reason, n, oneLine(e.Message)))
	}
	sort.Strings(warnings)
	if in.EventsSkipped != "" {
		add("events", Skipped, "%s", in.EventsSkipped)
	} else if len(warnings) > 0 {
		add("events", Warn, "%d Warning events in the last %s: %s", len(warnings), EventWindow, strings.Join(warnings, " | "))
	} else if resolved > 0 {
		add("events", OK, "no Warning events on the Karpenter pods in the last %s (%d FailedScheduling since resolved: the pods are scheduled and Ready)", EventWindow, resolved)
	} else {
		add("events", OK, "no Warning events on the Karpenter pods in the last %s", EventWindow)
	}

	metricsChecks(in, live, holderPod, &r, add)
	r.Verdict = OK
	for _, c := range r.Checks {
		if c.Status.rank() > r.Verdict.rank() {
			r.Verdict = c.Status
		}
	}
	return r
}

func metricsChecks(in Input, live []corev1.Pod, holderPod string, r *Report, add func(string, Status, string, ...any)) {
	if in.MetricsSkipped != "" {
		add("metrics", Skipped, "%s", in.MetricsSkipped)
		return
	}
	var leaders []string
	read := 0
	for _, p := range live {
		res, ok := in.Metrics[p.Name]
		name := "metrics/" + p.Name
		switch {
		case !ok:
			add(name, Skipped, "not probed")
			continue
		case res.Metrics == nil:
			add(name, Skipped, "%s", res.Err)
			continue
		}
		read++
		m := *res.Metrics
		r.Metrics[p.Name] = m
		if m.LeaderStatus != nil && *m.LeaderStatus == 1 {
			leaders = append(leaders, p.Name)
		}
		codes := CodeSummary(m.Requests)
		msg := fmt.Sprintf("%.0f API requests (%s), non-2xx %.1f%%, 429s %.0f, latency mean %s p99 ≤ %s",
			m.Total, codes, 100*m.Non2xxShare(), m.Throttled, secs(m.LatencyMeanSec), secs(m.LatencyP99Sec))
		switch {
		case m.Errors >= MinErrorsWarn && m.ErrorShare() > ErrorShareWarn:
			add(name, Warn, "%s: %.1f%% of requests failed with 5xx/429/connection errors", msg, 100*m.ErrorShare())
		case m.LatencyCount > 0 && m.LatencyP99Sec > LatencyP99Warn:
			add(name, Warn, "%s: slow API server as this replica sees it", msg)
		default:
			add(name, OK, "%s", msg)
		}
	}
	if read == 0 {
		add("metrics/leader-status", Skipped, "no replica's metrics could be read")
		return
	}
	switch {
	case len(leaders) == 1 && leaders[0] == holderPod:
		add("metrics/leader-status", OK, "%s=1 only on %s, the lease holder", MetricLeaderStatus, leaders[0])
	case len(leaders) == 1:
		add("metrics/leader-status", Fail, "%s says it leads but the lease holder is %q", leaders[0], holderPod)
	case len(leaders) > 1:
		add("metrics/leader-status", Fail, "%d replicas report %s=1: %s", len(leaders), MetricLeaderStatus, strings.Join(leaders, ", "))
	case read < len(live):
		add("metrics/leader-status", Skipped, "no readable replica reports %s=1 and %d replicas could not be read", MetricLeaderStatus, len(live)-read)
	default:
		add("metrics/leader-status", Fail, "no replica reports %s=1: nobody believes it leads", MetricLeaderStatus)
	}
}

// CodeSummary is "CODE:COUNT ..." by code, counts as whole numbers.
func CodeSummary(m map[string]float64) string {
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s:%.0f", c, m[c])
	}
	return strings.Join(parts, " ")
}

func secs(s float64) string {
	if s > 1e9 {
		return "+Inf"
	}
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}

// restartInfo sums restarts and names why containers last terminated or now wait.
func restartInfo(p *corev1.Pod) (int32, []string) {
	var n int32
	var reasons []string
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason != "" && t.Reason != "Completed" {
			reasons = append(reasons, fmt.Sprintf("container %s last terminated: %s (exit %d)", cs.Name, t.Reason, t.ExitCode))
		}
		if w := cs.State.Waiting; w != nil && (w.Reason == "CrashLoopBackOff" || w.Reason == "OOMKilled" || w.Reason == "Error") {
			reasons = append(reasons, fmt.Sprintf("container %s is waiting: %s", cs.Name, w.Reason))
		}
	}
	return n, reasons
}

func livePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if discovery.PodLive(&p) {
			out = append(out, p)
		}
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
