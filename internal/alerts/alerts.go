// Package alerts builds Prometheus alerting and recording rules for one Karpenter installation from
// the metric names Karpenter v1.15.0's own /metrics serves (leader_election_master_status,
// client_go_request_total; internal/health/testdata holds a leader's and a follower's) and,
// optionally, kube-state-metrics. Thresholds that depend on the leader election are derived from the
// lease's own duration and retry period; every rule carries the reason for its threshold (Rule.Why),
// which Render writes as a YAML comment. It reads and prints nothing. leader.go, api.go and pods.go
// build one rule group each; render.go writes them.
package alerts

import (
	"fmt"
	"math"
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
	}
	if err := o.ValidateThresholds(); err != nil {
		return err
	}
	if o.KubeStateMetrics && (o.Namespace == "" || o.Deployment == "") {
		return fmt.Errorf("the restart alert needs Karpenter's namespace and Deployment name")
	}
	return nil
}

// ValidateThresholds checks the switch threshold and window and the API error ratio: what nothing
// read from a cluster changes, so a command rejects them before its first request.
func (o Options) ValidateThresholds() error {
	switch {
	case o.SwitchThreshold < 1:
		return fmt.Errorf("switch threshold must be at least 1")
	case o.SwitchWindow < time.Minute:
		return fmt.Errorf("switch window %s is shorter than 1m: it must span several scrapes", o.SwitchWindow)
	case o.SwitchWindow < 4*o.ScrapeInterval:
		return fmt.Errorf("switch window %s must span at least 4 scrape intervals (%s)", o.SwitchWindow, o.ScrapeInterval)
	case o.APIErrorRatio <= 0 || o.APIErrorRatio >= 1:
		return fmt.Errorf("API error ratio %g must be between 0 and 1", o.APIErrorRatio)
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
// (evaluated in order) read the values recorded in the same evaluation. Leader election and API
// requests always; Karpenter's pod restarts with KubeStateMetrics.
func Build(o Options) ([]Group, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	groups := []Group{leaderElectionGroup(o), apiRequestsGroup(o)}
	if o.KubeStateMetrics {
		groups = append(groups, podsGroup(o))
	}
	return groups, nil
}

// jobSelector matches Karpenter's metrics endpoint.
func (o Options) jobSelector() string { return fmt.Sprintf(`job=%q`, o.Job) }

// leaderSeries is every replica's leader_election_master_status for the lease.
func (o Options) leaderSeries() string {
	return fmt.Sprintf(`leader_election_master_status{%s,name=%q}`, o.jobSelector(), o.LeaseName)
}

// leaseRef names the lease in summaries: NAMESPACE/NAME, or NAME without a namespace.
func (o Options) leaseRef() string {
	if o.Namespace != "" {
		return o.Namespace + "/" + o.LeaseName
	}
	return o.LeaseName
}

func (o Options) switchWindow() string { return model.Duration(o.SwitchWindow).String() }

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
