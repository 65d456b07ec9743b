package alerts

import (
	"fmt"
	"regexp"
)

// podsGroup alerts on restarts of Karpenter's containers, from kube-state-metrics.
func podsGroup(o Options) Group {
	pods := fmt.Sprintf(`kube_pod_container_status_restarts_total{namespace=%q,pod=~%q}`, o.Namespace, regexp.QuoteMeta(o.Deployment)+"-[a-z0-9]+-[a-z0-9]+")
	return Group{Name: "karpenter-pods", Rules: []Rule{o.alert(Rule{
		Alert:  "KarpenterPodRestarting",
		Expr:   fmt.Sprintf("increase(%s[15m]) > 0", pods),
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": "Karpenter pod {{ $labels.namespace }}/{{ $labels.pod }} restarted",
			"description": fmt.Sprintf("Container {{ $labels.container }} of Karpenter pod {{ $labels.namespace }}/{{ $labels.pod }} restarted in the last 15m. "+
				"Karpenter v1.15.0 does not release the lease when it exits, so a leader restart leaves the cluster without a leader "+
				"until the lease expires (%s + retryPeriod %s). "+
				"Remediation: `kubectl -n {{ $labels.namespace }} describe pod {{ $labels.pod }}` (OOMKilled → raise the memory limit; "+
				"\"leader election lost\" in the previous logs → see KarpenterAPIErrors), `kubectl -n {{ $labels.namespace }} logs {{ $labels.pod }} --previous`.",
				secs(o.LeaseDuration), secs(o.RetryPeriod)),
		},
		Why: fmt.Sprintf("from kube-state-metrics (--kube-state-metrics): any restart in 15m. Pods matched by name\n"+
			"%s-<replicaset hash>-<suffix> in namespace %s; the kube-state-metrics job is not matched.", o.Deployment, o.Namespace),
	})}}
}
