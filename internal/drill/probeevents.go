package drill

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// karpenterComponent is the event source Karpenter records its pod events under (its event recorder is
// the controller manager's, named after the app).
const karpenterComponent = "karpenter"

// probeEventsSelector selects the events about the probe pod.
func probeEventsSelector(pod string) string {
	return fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
		fields.OneTermEqualSelector("involvedObject.name", pod)).String()
}

// fromKarpenter reports whether Karpenter recorded e (kube-scheduler records FailedScheduling too).
func fromKarpenter(e *corev1.Event) bool {
	return e.Source.Component == karpenterComponent || e.ReportingController == karpenterComponent
}

// onEvent notes what Karpenter said about the probe: a FailedScheduling is its refusal (true: the probe
// is over unless a NodeClaim was already created after it), a Nominated its answer that a NodeClaim or
// node will take the pod.
func (pr *prober) onEvent(e *corev1.Event) bool {
	if e.InvolvedObject.Name != pr.plan.Pod || !fromKarpenter(e) {
		return false
	}
	now := pr.now()
	switch e.Reason {
	case "FailedScheduling":
		msg := oneLine(strings.TrimPrefix(e.Message, "Failed to schedule pod, "))
		pr.mu.Lock()
		first := pr.refused.IsZero()
		if first {
			pr.refused, pr.refusal = now, msg
		}
		over := len(pr.claims) == 0
		pr.mu.Unlock()
		if first {
			pr.send(Event{Time: now, Kind: EvProbeRefused, Detail: msg})
		}
		return over
	case "Nominated":
		pr.mu.Lock()
		first := pr.nominatedAt.IsZero()
		if first {
			pr.nominatedAt = now
		}
		pr.mu.Unlock()
		if first {
			pr.send(Event{Time: now, Kind: EvProbeNominated, Detail: oneLine(e.Message)})
		}
	}
	return false
}

// refusalReason is the probe's verdict when Karpenter refused it: the pod karpctl built is at fault,
// not Karpenter's failover.
func refusalReason(refusal string) string {
	return fmt.Sprintf("Karpenter refused the probe: %s (a problem of the probe karpctl built, not of Karpenter's failover)", refusal)
}
