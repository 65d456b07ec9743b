package health

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// pods is what the checks know of Karpenter's pods.
type pods struct {
	// live are neither terminating nor finished.
	live []corev1.Pod
	// byName holds every pod given, the first of each name.
	byName map[string]*corev1.Pod
	// holder is the lease holder's pod name, "" when the lease names none.
	holder string
}

func karpenterPods(in Input) pods {
	p := pods{live: livePods(in.Pods), byName: map[string]*corev1.Pod{}}
	for i := range in.Pods {
		if _, dup := p.byName[in.Pods[i].Name]; !dup {
			p.byName[in.Pods[i].Name] = &in.Pods[i]
		}
	}
	if in.Lease.Holder != nil {
		p.holder = in.Lease.Holder.Pod
	}
	return p
}

func newCheck(name string, st Status, format string, a ...any) Check {
	return Check{Name: name, Status: st, Message: fmt.Sprintf(format, a...)}
}

// deploymentCheck: the Deployment is available, ready = desired.
func deploymentCheck(d *appsv1.Deployment) Check {
	if d == nil {
		return newCheck("deployment", Skipped, "no Karpenter Deployment found (only --lease given)")
	}
	desired := discovery.DesiredReplicas(d)
	ready := d.Status.ReadyReplicas
	switch {
	case ready >= desired:
		return newCheck("deployment", OK, "%s/%s: %d/%d replicas ready", d.Namespace, d.Name, ready, desired)
	case ready == 0:
		return newCheck("deployment", Fail, "%s/%s: 0/%d replicas ready: Karpenter is down", d.Namespace, d.Name, desired)
	default:
		return newCheck("deployment", Warn, "%s/%s: %d/%d replicas ready: no standby for a failover", d.Namespace, d.Name, ready, desired)
	}
}

// leaderCheck: exactly one holder, a Running, Ready Karpenter pod.
func leaderCheck(st lease.Status, p pods) Check {
	switch st.Verdict {
	case lease.Disabled:
		if st.OK() {
			return newCheck("leader", OK, "%s", st.Reason)
		}
		return newCheck("leader", Fail, "%s", st.Reason)
	case lease.Missing, lease.NoHolder, lease.Orphaned:
		return newCheck("leader", Fail, "lease %s/%s is %s: %s", st.Namespace, st.Name, st.Verdict, st.Reason)
	}
	var pod *corev1.Pod
	if p.holder != "" {
		pod = p.byName[p.holder]
	}
	switch {
	case pod == nil:
		return newCheck("leader", Fail, "holder %q of lease %s/%s is not a Karpenter pod", st.HolderIdentity, st.Namespace, st.Name)
	case pod.DeletionTimestamp != nil:
		return newCheck("leader", Fail, "leader %s is terminating", pod.Name)
	case pod.Status.Phase != corev1.PodRunning || !discovery.PodReady(pod):
		return newCheck("leader", Fail, "leader %s is %s, ready=%t", pod.Name, pod.Status.Phase, discovery.PodReady(pod))
	default:
		return newCheck("leader", OK, "%s holds %s/%s and is Running and Ready", pod.Name, st.Namespace, st.Name)
	}
}

// leaseRenewalCheck: the lease was renewed within its duration.
func leaseRenewalCheck(st lease.Status) Check {
	switch st.Verdict {
	case lease.Disabled, lease.Missing, lease.NoHolder:
		return newCheck("lease-renewal", Skipped, "no held lease to judge (%s)", st.Verdict)
	case lease.Healthy, lease.Orphaned: // renewed within the duration, else the verdict is Expired
		return newCheck("lease-renewal", OK, "renewed %s ago (stale after %s, duration %s)", lease.Round(st.RenewAge.Duration()), lease.Round(lease.StaleAfter(st.LeaseDuration.Duration())), st.LeaseDuration)
	default: // Stale, Expired
		return newCheck("lease-renewal", Fail, "lease %s/%s is %s: %s", st.Namespace, st.Name, st.Verdict, st.Reason)
	}
}

// followersCheck: every replica but the leader is Running and Ready.
func followersCheck(in Input, p pods) Check {
	var notReady, followers []string
	for _, pod := range p.live {
		if pod.Name == p.holder {
			continue
		}
		followers = append(followers, pod.Name)
		if pod.Status.Phase != corev1.PodRunning || !discovery.PodReady(&pod) {
			notReady = append(notReady, fmt.Sprintf("%s (%s, ready=%t)", pod.Name, pod.Status.Phase, discovery.PodReady(&pod)))
		}
	}
	switch {
	case in.Deployment == nil:
		// Without the Deployment's selector only the holder's pod is known: no claim about followers.
		return newCheck("followers", Skipped, "no Karpenter Deployment found (only --lease given): the followers cannot be listed")
	case len(followers) == 0:
		return newCheck("followers", Warn, "no follower: nothing can take over if the leader fails")
	case len(notReady) > 0:
		return newCheck("followers", Warn, "not ready: %s", strings.Join(notReady, ", "))
	default:
		return newCheck("followers", OK, "%d ready: %s", len(followers), strings.Join(followers, ", "))
	}
}

// restartChecks: one per replica, its restarts and why its containers last terminated.
func restartChecks(live []corev1.Pod) []Check {
	var checks []Check
	for _, p := range live {
		restarts, reasons := restartInfo(&p)
		name := "restarts/" + p.Name
		switch {
		case len(reasons) > 0:
			checks = append(checks, newCheck(name, Warn, "%d restarts; %s", restarts, strings.Join(reasons, "; ")))
		case restarts > 0:
			checks = append(checks, newCheck(name, Warn, "%d restarts", restarts))
		default:
			checks = append(checks, newCheck(name, OK, "no restarts"))
		}
	}
	return checks
}

// eventsCheck: recent Warning events on the Karpenter pods, less scheduling failures since resolved.
func eventsCheck(in Input, p pods) Check {
	var warnings []string
	resolved := 0
	for _, e := range in.Events {
		pod := p.byName[e.InvolvedObject.Name]
		if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "Pod" || pod == nil {
			continue
		}
		// A scheduling failure of a pod that has since been scheduled and turned Ready is resolved.
		if e.Reason == "FailedScheduling" && pod.Spec.NodeName != "" && discovery.PodReady(pod) {
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
	switch {
	case in.EventsSkipped != "":
		return newCheck("events", Skipped, "%s", in.EventsSkipped)
	case len(warnings) > 0:
		return newCheck("events", Warn, "%d Warning events in the last %s: %s", len(warnings), EventWindow, strings.Join(warnings, " | "))
	case resolved > 0:
		return newCheck("events", OK, "no Warning events on the Karpenter pods in the last %s (%d FailedScheduling since resolved: the pods are scheduled and Ready)", EventWindow, resolved)
	default:
		return newCheck("events", OK, "no Warning events on the Karpenter pods in the last %s", EventWindow)
	}
}

// metricsChecks: one per replica from its own /metrics (recorded in read), then whether exactly
// the lease holder says it leads.
func metricsChecks(in Input, p pods, read map[string]ReplicaMetrics) []Check {
	if in.MetricsSkipped != "" {
		return []Check{newCheck("metrics", Skipped, "%s", in.MetricsSkipped)}
	}
	var checks []Check
	var leaders []string
	n := 0
	for _, pod := range p.live {
		res, probed := in.Metrics[pod.Name]
		checks = append(checks, replicaMetricsCheck(pod.Name, res, probed))
		if !probed || res.Metrics == nil {
			continue
		}
		n++
		read[pod.Name] = *res.Metrics
		if s := res.Metrics.LeaderStatus; s != nil && *s == 1 {
			leaders = append(leaders, pod.Name)
		}
	}
	return append(checks, leaderStatusCheck(leaders, n, len(p.live), p.holder))
}

// replicaMetricsCheck judges one replica's API traffic: the share of failed requests and the p99
// latency.
func replicaMetricsCheck(pod string, res MetricsResult, probed bool) Check {
	name := "metrics/" + pod
	switch {
	case !probed:
		return newCheck(name, Skipped, "not probed")
	case res.Metrics == nil:
		return newCheck(name, Skipped, "%s", res.Err)
	}
	m := *res.Metrics
	msg := fmt.Sprintf("%.0f API requests (%s), non-2xx %.1f%%, 429s %.0f, latency mean %s p99 ≤ %s",
		m.Total, CodeSummary(m.Requests), 100*m.Non2xxShare(), m.Throttled, secs(m.LatencyMeanSec), secs(m.LatencyP99Sec))
	switch {
	case m.Errors >= MinErrorsWarn && m.ErrorShare() > ErrorShareWarn:
		return newCheck(name, Warn, "%s: %.1f%% of requests failed with 5xx/429/connection errors", msg, 100*m.ErrorShare())
	case m.LatencyCount > 0 && m.LatencyP99Sec > LatencyP99Warn:
		return newCheck(name, Warn, "%s: slow API server as this replica sees it", msg)
	default:
		return newCheck(name, OK, "%s", msg)
	}
}

// leaderStatusCheck: of the read replicas' metrics, only the lease holder's says it leads.
func leaderStatusCheck(leaders []string, read, live int, holder string) Check {
	const name = "metrics/leader-status"
	switch {
	case read == 0:
		return newCheck(name, Skipped, "no replica's metrics could be read")
	case len(leaders) == 1 && leaders[0] == holder:
		return newCheck(name, OK, "%s=1 only on %s, the lease holder", MetricLeaderStatus, leaders[0])
	case len(leaders) == 1:
		return newCheck(name, Fail, "%s says it leads but the lease holder is %q", leaders[0], holder)
	case len(leaders) > 1:
		return newCheck(name, Fail, "%d replicas report %s=1: %s", len(leaders), MetricLeaderStatus, strings.Join(leaders, ", "))
	case read < live:
		return newCheck(name, Skipped, "no readable replica reports %s=1 and %d replicas could not be read", MetricLeaderStatus, live-read)
	default:
		return newCheck(name, Fail, "no replica reports %s=1: nobody believes it leads", MetricLeaderStatus)
	}
}
