// Package health judges a Karpenter installation with one line per check: the Deployment, the lease
// and its holder, the replicas' readiness, restarts and Warning events, and each replica's own
// metrics (read through the API server's pod proxy). Evaluate is pure; Read gathers its input.
// checks.go holds one function per check.
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

// Evaluate runs every check, in the order the report lists them. It is pure: it reads nothing but
// in (the clock included, as in.Now) and changes nothing, so one input always gives one report.
func Evaluate(in Input) Report {
	r := Report{Namespace: in.Lease.Namespace, Lease: in.Lease.Namespace + "/" + in.Lease.Name, ObservedAt: in.Now, Metrics: map[string]ReplicaMetrics{}}
	if d := in.Deployment; d != nil {
		r.Namespace, r.Deployment = d.Namespace, d.Name
	}
	p := karpenterPods(in)
	r.Checks = append(r.Checks, deploymentCheck(in.Deployment), leaderCheck(in.Lease, p), leaseRenewalCheck(in.Lease), followersCheck(in, p))
	r.Checks = append(r.Checks, restartChecks(p.live)...)
	r.Checks = append(r.Checks, eventsCheck(in, p))
	r.Checks = append(r.Checks, metricsChecks(in, p, r.Metrics)...)
	r.Verdict = OK
	for _, c := range r.Checks {
		if c.Status.rank() > r.Verdict.rank() {
			r.Verdict = c.Status
		}
	}
	return r
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
