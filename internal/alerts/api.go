package alerts

import (
	"fmt"
	"time"
)

// apiRequestsGroup records each replica's share of failed and of throttled API requests, and alerts
// on either.
func apiRequestsGroup(o Options) Group {
	perReplica := "namespace, pod, instance"
	errCodes := `code!~"2..|404|409"`
	return Group{Name: "karpenter-api-requests", Rules: []Rule{
		{
			Record: recordErrors,
			Expr: fmt.Sprintf("(\n  sum by (%[1]s) (rate(client_go_request_total{%[2]s,%[3]s}[5m]))\n  or\n  0 * sum by (%[1]s) (rate(client_go_request_total{%[2]s}[5m]))\n)\n/\nsum by (%[1]s) (rate(client_go_request_total{%[2]s}[5m]))",
				perReplica, o.jobSelector(), errCodes),
			Why: "Share of each replica's own API requests that failed, from client-go's client_go_request_total{code,method}\n" +
				"(the name Karpenter v1.15.0 serves; there is no rest_client_requests_total). 404 and 409 are excluded: the\n" +
				"v1.15.0 leader answers GET 404 (object not there yet) and PATCH 409 (optimistic-concurrency conflict, retried)\n" +
				"in normal operation. Counted: 5xx, 429, 401/403 and \"<error>\" (no response: timeout, connection refused).\n" +
				"A replica without errors records 0 (the `or 0 *` branch) rather than no value.",
		},
		{
			Record: recordThrottl,
			Expr:   fmt.Sprintf(`sum by (%s) (rate(client_go_request_total{%s,code="429"}[5m]))`, perReplica, o.jobSelector()),
			Why:    "429s per second per replica: the API server's priority and fairness rejecting Karpenter's requests.",
		},
		o.alert(apiErrorsAlert(o)),
		o.alert(apiThrottledAlert()),
	}}
}

func apiErrorsAlert(o Options) Rule {
	retry := secs(o.RetryPeriod)
	return Rule{
		Alert:  "KarpenterAPIErrors",
		Expr:   fmt.Sprintf("%s > %g", recordErrors, o.APIErrorRatio),
		For:    "10m",
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("Karpenter replica {{ $labels.pod }} sees more than %s API errors", pct(o.APIErrorRatio)),
			"description": fmt.Sprintf("More than %s of the API requests of Karpenter replica {{ $labels.pod }} ({{ $labels.instance }}) failed over 5m for 10m "+
				"(excluding 404 and 409). A leader whose lease renewals fail for renewDeadline (10 s, %d attempts at retryPeriod %s) steps down; "+
				"a follower that cannot reach the API server cannot take over. "+
				"Remediation: break down client_go_request_total{pod=\"{{ $labels.pod }}\"} by code and method; 401/403 means RBAC or token problems, "+
				"5xx or <error> means API server or network trouble from that pod's node, 429 means throttling (KarpenterAPIThrottled).",
				pct(o.APIErrorRatio), int(10*time.Second/o.RetryPeriod), retry),
		},
		Why: fmt.Sprintf("ratio %g over 5m for 10m (--api-error-ratio): a follower alone polls the lease once per retryPeriod %s\n"+
			"(~%d requests in 5m), so the threshold is dozens of failures, not the single 429 a v1.15.0 follower can see at\n"+
			"startup. 10m keeps a brief API server restart from paging.", o.APIErrorRatio, retry, int(5*time.Minute/o.RetryPeriod)),
	}
}

func apiThrottledAlert() Rule {
	return Rule{
		Alert:  "KarpenterAPIThrottled",
		Expr:   fmt.Sprintf("%s > 0", recordThrottl),
		For:    "15m",
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": "Karpenter replica {{ $labels.pod }} is being throttled by the API server (HTTP 429)",
			"description": "Karpenter replica {{ $labels.pod }} ({{ $labels.instance }}) has received HTTP 429 in every 5m window for 15m. " +
				"Throttled lease renewals make the leader step down (leader switches) and slow provisioning. " +
				"Remediation: check the API server's priority and fairness (apiserver_flowcontrol_rejected_requests_total, " +
				"the FlowSchema matching Karpenter's ServiceAccount) and whether another client floods the same priority level.",
		},
		Why: "any 429 in every 5m window for 15m: a single 429 at startup is normal (a v1.15.0 follower can have one),\n" +
			"sustained throttling is not.",
	}
}
