// Package alerts builds Prometheus alerting and recording rules for one Karpenter installation from
// the metric names a real Karpenter v1.15.0 serves (leader_election_master_status, client_go_request_total;
// see shared/data/*.metrics.txt) and, optionally, kube-state-metrics. Thresholds that depend on the
// leader election are derived from the lease's own duration and retry period; every rule carries the
// reason for its threshold (Rule.Why), which Render writes as a YAML comment. It reads and prints nothing.
package alerts

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Defaults of Karpenter v1.15.0: it sets no leader-election timings, so controller-runtime's defaults
// apply (leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s). The Lease object carries the
// duration; the retry period is not recorded anywhere in the cluster.
const (
	DefaultJob            = "karpenter"
	DefaultLeaseDuration  = 15 * time.Second
	DefaultRetryPeriod    = 2 * time.Second
	DefaultScrapeInterval = 30 * time.Second
	DefaultSwitchWindow   = 10 * time.Minute
	DefaultAPIErrorRatio  = 0.10
	DefaultReplicas       = 2
)

// DefaultSwitchThreshold is the number of leader switches in the window that is more than a rollout
// explains: a RollingUpdate replaces each replica once, and only replacing the current leader moves the
// lease, so a rollout of N replicas causes at most N switches. One more is churn. Never below 3.
func DefaultSwitchThreshold(replicas int32) int {
	if replicas < 2 {
		replicas = 2
	}
	return int(replicas) + 1
}

// Options are the plain inputs of the rules.
type Options struct {
	// LeaseName is the leader-election Lease name; Karpenter's metric carries it as label name.
	LeaseName string
	// Namespace is Karpenter's namespace (kube-state-metrics series are matched on it).
	Namespace string
	// Deployment is Karpenter's Deployment name; its pods are named <deployment>-<hash>-<suffix>.
	Deployment string
	// Job is the Prometheus job label of Karpenter's metrics endpoint (the chart's Service name).
	Job string
	// LeaseDuration comes from the Lease's leaseDurationSeconds when it exists.
	LeaseDuration  time.Duration
	RetryPeriod    time.Duration
	ScrapeInterval time.Duration
	// SwitchThreshold switches within SwitchWindow fire KarpenterLeaderFlapping.
	SwitchThreshold int
	SwitchWindow    time.Duration
	// APIErrorRatio of a replica's API requests failing (5m rate) fires KarpenterAPIErrors.
	APIErrorRatio float64
	// RunbookURL, when set, becomes each alert's runbook_url (with #<alertname> appended unless it has a
	// fragment already).
	RunbookURL string
	// KubeStateMetrics adds the restart alert on kube_pod_container_status_restarts_total.
	KubeStateMetrics bool
	// LeaseDurationSource says where LeaseDuration came from, for the comments ("read from the Lease").
	LeaseDurationSource string
}

// Group is one Prometheus rule group.
type Group struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// Rule is an alerting rule (Alert set) or a recording rule (Record set).
type Rule struct {
	Record      string            `json:"record,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Why justifies the expression and its threshold; rendered as a comment above the rule.
	Why string `json:"-"`
}

// Name is the alert or record name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// Recording rule names (level:metric:operations).
const (
	RecordLeaders = "karpenter:leader_election_master_status:sum"
	recordErrors  = "karpenter:client_go_request_errors:ratio_rate5m"
	recordThrottl = "karpenter:client_go_request_throttled:rate5m"
)

// RecordSwitches is the name of the switch-count recording over window w.
func RecordSwitches(w time.Duration) string {
	return "karpenter:leader_election_switches:changes" + model.Duration(w).String()
}

// Validate rejects options that would produce invalid or meaningless rules.
func (o Options) Validate() error {
	switch {
	case o.LeaseName == "":
		return fmt.Errorf("lease name is empty")
	case o.Job == "":
		return fmt.Errorf("job is empty")
	case o.LeaseDuration <= 0 || o.RetryPeriod <= 0 || o.ScrapeInterval <= 0:
		return fmt.Errorf("lease duration, retry period and scrape interval must be positive")
	case o.RetryPeriod >= o.LeaseDuration:
		return fmt.Errorf("retry period %s must be shorter than the lease duration %s", o.RetryPeriod, o.LeaseDuration)
	case o.SwitchThreshold < 1:
		return fmt.Errorf("switch threshold must be at least 1")
	case o.SwitchWindow < time.Minute:
		return fmt.Errorf("switch window %s is shorter than 1m: it must span several scrapes", o.SwitchWindow)
	case o.SwitchWindow < 4*o.ScrapeInterval:
		return fmt.Errorf("switch window %s must span at least 4 scrape intervals (%s)", o.SwitchWindow, o.ScrapeInterval)
	case o.APIErrorRatio <= 0 || o.APIErrorRatio >= 1:
		return fmt.Errorf("API error ratio %g must be between 0 and 1", o.APIErrorRatio)
	case o.KubeStateMetrics && (o.Namespace == "" || o.Deployment == ""):
		return fmt.Errorf("the restart alert needs Karpenter's namespace and Deployment name")
	}
	return nil
}

// WithDefaults fills zero fields with Karpenter's defaults.
func (o Options) WithDefaults() Options {
	if o.LeaseName == "" {
		o.LeaseName = discovery.DefaultLeaseName
	}
	if o.Job == "" {
		o.Job = DefaultJob
	}
	if o.LeaseDuration == 0 {
		o.LeaseDuration = DefaultLeaseDuration
		if o.LeaseDurationSource == "" {
			o.LeaseDurationSource = "controller-runtime default"
		}
	}
	if o.LeaseDurationSource == "" {
		o.LeaseDurationSource = "given"
	}
	if o.RetryPeriod == 0 {
		o.RetryPeriod = DefaultRetryPeriod
	}
	if o.ScrapeInterval == 0 {
		o.ScrapeInterval = DefaultScrapeInterval
	}
	if o.SwitchThreshold == 0 {
		o.SwitchThreshold = DefaultSwitchThreshold(DefaultReplicas)
	}
	if o.SwitchWindow == 0 {
		o.SwitchWindow = DefaultSwitchWindow
	}
	if o.APIErrorRatio == 0 {
		o.APIErrorRatio = DefaultAPIErrorRatio
	}
	if o.Deployment == "" {
		o.Deployment = "karpenter"
	}
	return o
}

// NoLeaderFor is how long no replica may report leadership before KarpenterNoLeader fires.
//
// After the leader dies its lease stays valid for leaseDuration from its last renewal; a follower
// retries every retryPeriod, so takeover completes within leaseDuration + retryPeriod (measured with
// the real controller: 15.6–19.5 s for 15 s + 2 s). Prometheus sees the new leader up to one scrape
// later, and the dead leader's series turns stale up to one scrape after it died. The wait is twice
// the takeover bound plus two scrapes, rounded up to the minute, so one failover never pages.
func NoLeaderFor(o Options) time.Duration {
	return roundUp(2*(o.LeaseDuration+o.RetryPeriod)+2*o.ScrapeInterval, time.Minute)
}

// MultipleLeadersFor is how long two replicas may both report leadership. Real overlap cannot happen
// without clock skew — the old leader gives up after renewDeadline (< leaseDuration) before anyone
// may take over — so what Prometheus sees is scrape skew: the old leader's last sample lingers until
// its next scrape. Two scrape intervals, at least 1m.
func MultipleLeadersFor(o Options) time.Duration {
	d := roundUp(2*o.ScrapeInterval, 30*time.Second)
	if d < time.Minute {
		d = time.Minute
	}
	return d
}

// Build returns the rule groups: recording rules first in each group, so the alerts of that group
// (evaluated in order) read the values recorded in the same evaluation.
func Build(o Options) ([]Group, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	sel := fmt.Sprintf(`job=%q`, o.Job)
	leaderSel := fmt.Sprintf(`leader_election_master_status{%s,name=%q}`, sel, o.LeaseName)
	lease := o.LeaseName
	if o.Namespace != "" {
		lease = o.Namespace + "/" + o.LeaseName
	}
	win := model.Duration(o.SwitchWindow).String()
	noLeaderFor := NoLeaderFor(o)
	multiFor := MultipleLeadersFor(o)
	dur, retry, scrape := secs(o.LeaseDuration), secs(o.RetryPeriod), secs(o.ScrapeInterval)

	leader := Group{Name: "karpenter-leader-election", Rules: []Rule{
		{
			Record: RecordLeaders,
			Expr:   fmt.Sprintf("sum by (name) (%s)", leaderSel),
			Why:    "Number of Karpenter replicas that report leading the lease (1 on the leader, 0 on followers): 1 is healthy.",
		},
		{
			Record: RecordSwitches(o.SwitchWindow),
			Expr:   fmt.Sprintf("sum by (name) (changes(%[1]s[%[2]s]) - resets(%[1]s[%[2]s]))", leaderSel, win),
			Why: "Leader switches in the window: each switch turns one replica's gauge from 0 to 1, and changes() − resets()\n" +
				"counts exactly those rises (resets() counts the falls). A restarted container keeps its pod and\n" +
				"instance labels, so its series continues. A brand-new pod whose first scrape already reads 1 is not\n" +
				"counted: this undercounts, never overcounts.",
		},
		{
			Record: "karpenter:leader_election_switches:changes1h",
			Expr:   fmt.Sprintf("sum by (name) (changes(%[1]s[1h]) - resets(%[1]s[1h]))", leaderSel),
			Why:    "The switch rate per hour, for dashboards and for trends a short window misses.",
		},
		o.alert(Rule{
			Alert:  "KarpenterNoLeader",
			Expr:   fmt.Sprintf("max by (name) (%s) < 1", leaderSel),
			For:    model.Duration(noLeaderFor).String(),
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("No Karpenter replica has led lease %s for %s", lease, model.Duration(noLeaderFor)),
				"description": fmt.Sprintf("Every scraped Karpenter replica (job %q) reports leader_election_master_status 0 for lease {{ $labels.name }}: "+
					"nothing provisions or disrupts nodes and pending pods wait. A failover normally completes within leaseDuration + retryPeriod (%s + %s). "+
					"Remediation: `kubectl karpctl lease` shows the holder and its renew age; check the replicas' logs for "+
					"\"Attempting to acquire leader lease\" and API errors (RBAC on coordination.k8s.io leases, API server reachability, throttling); "+
					"if the holder pod is gone, the lease expires by itself after %s.", o.Job, dur, retry, dur),
			},
			Why: fmt.Sprintf("for %s = 2 × (leaseDuration %s (%s) + retryPeriod %s) + 2 × scrape interval %s, rounded up to the minute:\n"+
				"a follower takes over within leaseDuration + retryPeriod of the leader's last renewal (measured 15.6–19.5 s\n"+
				"for 15 s + 2 s), and Prometheus sees both the dead leader go stale and the new one lead up to a scrape late.\n"+
				"One ordinary failover never fires this; a lease nobody can take does. If every replica is gone,\n"+
				"max() returns nothing and KarpenterLeaderMetricsAbsent fires instead.",
				model.Duration(noLeaderFor), dur, o.LeaseDurationSource, retry, scrape),
		}),
		o.alert(Rule{
			Alert:  "KarpenterMultipleLeaders",
			Expr:   fmt.Sprintf("sum by (name) (%s) > 1", leaderSel),
			For:    model.Duration(multiFor).String(),
			Labels: map[string]string{"severity": "critical"},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("More than one Karpenter replica claims lease %s", lease),
				"description": "Several Karpenter replicas report leader_election_master_status 1 for lease {{ $labels.name }} at once: " +
					"two leaders launch and delete nodes independently (duplicate NodeClaims, conflicting disruption). " +
					"Remediation: check for a second Karpenter installation with the same lease name in another namespace, " +
					"a replica with DISABLE_LEADER_ELECTION=true, or clock skew between nodes; `kubectl karpctl lease` names the real holder. " +
					"Scale the extra installation to zero or give it its own lease (LEADER_ELECTION_NAME).",
			},
			Why: fmt.Sprintf("for %s = 2 × scrape interval %s (at least 1m): a real overlap is impossible without clock skew because\n"+
				"the old leader stops after renewDeadline (10 s) < leaseDuration (%s). What Prometheus can see is scrape skew:\n"+
				"the old leader's last 1 lingers until its next scrape. Longer than that is a second leader.",
				model.Duration(multiFor), scrape, dur),
		}),
		o.alert(Rule{
			Alert:  "KarpenterLeaderFlapping",
			Expr:   fmt.Sprintf("%s >= %d", RecordSwitches(o.SwitchWindow), o.SwitchThreshold),
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("Karpenter's leader changed %d or more times in %s (lease %s)", o.SwitchThreshold, win, lease),
				"description": fmt.Sprintf("Lease {{ $labels.name }} changed hands at least %d times in %s, more than a rollout explains. "+
					"Every switch stops provisioning for up to leaseDuration + retryPeriod (%s + %s) while caches rebuild. "+
					"Remediation: find why leaders lose the lease — OOMKilled or crashing pods (`kubectl karpctl lease` shows restarts), "+
					"renewals failing on API errors or throttling (see KarpenterAPIErrors/KarpenterAPIThrottled), evictions or node churn "+
					"under the Karpenter pods; `kubectl karpctl lease --watch` records each handover and its gap.", o.SwitchThreshold, win, dur, retry),
			},
			Why: fmt.Sprintf("threshold %d switches in %s (--switch-threshold/--switch-window): a RollingUpdate replaces each replica\n"+
				"once and only replacing the leader moves the lease, so a rollout of N replicas causes at most N switches;\n"+
				"the default is replicas + 1. No `for`: the window already integrates over time.", o.SwitchThreshold, win),
		}),
		o.alert(Rule{
			Alert:  "KarpenterLeaderMetricsAbsent",
			Expr:   fmt.Sprintf("absent(%s)", leaderSel),
			For:    model.Duration(noLeaderFor).String(),
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary": fmt.Sprintf("No Karpenter replica reports leader_election_master_status for lease %s", lease),
				"description": fmt.Sprintf("Prometheus has no leader_election_master_status{job=%q,name=%q}: either every Karpenter replica is down "+
					"(then nothing provisions nodes) or Karpenter is not scraped under job %q. "+
					"Remediation: `kubectl karpctl lease` shows the replicas; check the ServiceMonitor/scrape config targets port 8080 /metrics "+
					"and regenerate these rules with the right --job; or run `kubectl karpctl lease --serve :9090` and scrape that instead.", o.Job, o.LeaseName, o.Job),
			},
			Why: "Without any series the two alerts above cannot fire (max() and sum() of nothing is nothing); this one\n" +
				"covers 'all replicas down' and 'not scraped', with the same wait as KarpenterNoLeader.",
		}),
	}}

	perReplica := "namespace, pod, instance"
	errCodes := `code!~"2..|404|409"`
	api := Group{Name: "karpenter-api-requests", Rules: []Rule{
		{
			Record: recordErrors,
			Expr: fmt.Sprintf("(\n  sum by (%[1]s) (rate(client_go_request_total{%[2]s,%[3]s}[5m]))\n  or\n  0 * sum by (%[1]s) (rate(client_go_request_total{%[2]s}[5m]))\n)\n/\nsum by (%[1]s) (rate(client_go_request_total{%[2]s}[5m]))",
				perReplica, sel, errCodes),
			Why: "Share of each replica's own API requests that failed, from client-go's client_go_request_total{code,method}\n" +
				"(the name Karpenter v1.15.0 serves; there is no rest_client_requests_total). 404 and 409 are excluded: the\n" +
				"v1.15.0 leader answers GET 404 (object not there yet) and PATCH 409 (optimistic-concurrency conflict, retried)\n" +
				"in normal operation. Counted: 5xx, 429, 401/403 and \"<error>\" (no response: timeout, connection refused).\n" +
				"A replica without errors records 0 (the `or 0 *` branch) rather than no value.",
		},
		{
			Record: recordThrottl,
			Expr:   fmt.Sprintf(`sum by (%s) (rate(client_go_request_total{%s,code="429"}[5m]))`, perReplica, sel),
			Why:    "429s per second per replica: the API server's priority and fairness rejecting Karpenter's requests.",
		},
		o.alert(Rule{
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
		}),
		o.alert(Rule{
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
		}),
	}}
	groups := []Group{leader, api}
	if o.KubeStateMetrics {
		pods := fmt.Sprintf(`kube_pod_container_status_restarts_total{namespace=%q,pod=~%q}`, o.Namespace, regexp.QuoteMeta(o.Deployment)+"-[a-z0-9]+-[a-z0-9]+")
		groups = append(groups, Group{Name: "karpenter-pods", Rules: []Rule{o.alert(Rule{
			Alert:  "KarpenterPodRestarting",
			Expr:   fmt.Sprintf("increase(%s[15m]) > 0", pods),
			Labels: map[string]string{"severity": "warning"},
			Annotations: map[string]string{
				"summary": "Karpenter pod {{ $labels.namespace }}/{{ $labels.pod }} restarted",
				"description": fmt.Sprintf("Container {{ $labels.container }} of Karpenter pod {{ $labels.namespace }}/{{ $labels.pod }} restarted in the last 15m. "+
					"Karpenter v1.15.0 does not release the lease when it exits, so a leader restart leaves the cluster without a leader "+
					"until the lease expires (%s + retryPeriod %s). "+
					"Remediation: `kubectl -n {{ $labels.namespace }} describe pod {{ $labels.pod }}` (OOMKilled → raise the memory limit; "+
					"\"leader election lost\" in the previous logs → see KarpenterAPIErrors), `kubectl -n {{ $labels.namespace }} logs {{ $labels.pod }} --previous`.", dur, retry),
			},
			Why: fmt.Sprintf("from kube-state-metrics (--kube-state-metrics): any restart in 15m. Pods matched by name\n"+
				"%s-<replicaset hash>-<suffix> in namespace %s; the kube-state-metrics job is not matched.", o.Deployment, o.Namespace),
		})}})
	}
	return groups, nil
}

// alert adds the runbook link.
func (o Options) alert(r Rule) Rule {
	if o.RunbookURL != "" {
		u := o.RunbookURL
		if !strings.Contains(u, "#") {
			u += "#" + strings.ToLower(r.Alert)
		}
		r.Annotations["runbook_url"] = u
	}
	return r
}

// Alerts lists the alert names of groups, sorted.
func Alerts(groups []Group) []string {
	var names []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				names = append(names, r.Alert)
			}
		}
	}
	sort.Strings(names)
	return names
}

func roundUp(d, to time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(d)/float64(to))) * to
}

// pct renders a ratio as a percentage without float noise: 0.1 → "10%".
func pct(r float64) string { return strconv.FormatFloat(math.Round(r*1e4)/1e2, 'f', -1, 64) + "%" }

func secs(d time.Duration) string { return model.Duration(d).String() }
