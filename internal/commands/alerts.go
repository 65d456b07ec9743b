package commands

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/alerts"
	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/output"
)

func init() { register(newAlertsCmd) }

const alertsExample = `  # PrometheusRule for the Karpenter in the cluster (lease and duration read from it)
  kubectl karpctl alerts > karpenter-alerts.yaml && kubectl apply -f karpenter-alerts.yaml

  # Plain Prometheus rule file, with kube-state-metrics restart alerts and runbook links
  kubectl karpctl alerts --format rules --kube-state-metrics --runbook-url https://wiki.example.com/karpenter

  # Without a cluster: say where Karpenter runs and how Prometheus labels it
  kubectl karpctl alerts --offline -n karpenter --job karpenter --format rules | promtool check rules /dev/stdin

  # The Prometheus Operator picks rules by label
  kubectl karpctl alerts --rule-label release=kube-prometheus-stack --rule-namespace monitoring`

// AlertsOptions are the alerts command's flags.
type AlertsOptions struct {
	env              *Env
	Format           alerts.Format
	Offline          bool
	Job              string
	LeaseName        string
	RuleName         string
	RuleNamespace    string
	RuleLabels       map[string]string
	SwitchThreshold  int
	SwitchWindow     time.Duration
	APIErrorRatio    float64
	RunbookURL       string
	KubeStateMetrics bool
	ScrapeInterval   time.Duration
	LeaseDuration    time.Duration
	RetryPeriod      time.Duration

	rules alerts.Options // the flags' rule options; complete (with where) offline
	where string
}

func newAlertsCmd(env *Env) *cobra.Command {
	o := &AlertsOptions{env: env, Format: alerts.PrometheusRuleFormat}
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Print Prometheus alerting and recording rules for Karpenter's leader election and API errors",
		Long: `Print a PrometheusRule (monitoring.coreos.com/v1) or a plain Prometheus rule file that alerts when
Karpenter has no leader, more than one leader, switches leaders too often, when a replica's API
requests fail or are throttled, and (with --kube-state-metrics) when a Karpenter pod restarts.

The rules use the metrics a real Karpenter v1.15.0 serves: leader_election_master_status{name=LEASE}
and client_go_request_total{code,method}. Waits are derived from the Lease's leaseDurationSeconds,
the retry period and the scrape interval; each rule's reason is written as a comment above it.
Without --offline the Karpenter Deployment and its Lease are read from the cluster (read-only).`,
		Example: alertsExample,
		Args:    cobra.NoArgs,
		RunE:    validatedRun(o),
	}
	f := cmd.Flags()
	// -o like every other command; --format, its first name, stays.
	format := &output.FormatValue[alerts.Format]{Value: &o.Format, Allowed: alerts.Formats, What: "output", Hint: "prometheusrule or rules"}
	f.VarP(format, "output", "o", "Output: prometheusrule (Prometheus Operator object) | rules (plain Prometheus rule file)")
	f.Var(format, "format", "The same as -o")
	f.BoolVar(&o.Offline, "offline", false, "Do not contact the cluster: Karpenter's namespace from --karpenter-namespace, --lease or -n, defaults for the rest")
	f.StringVar(&o.Job, "job", alerts.DefaultJob, "Prometheus job label of Karpenter's metrics (the Helm chart's Service name)")
	f.StringVar(&o.LeaseName, "lease-name", "", "Leader-election Lease name (default: from the Deployment, or "+discovery.DefaultLeaseName+")")
	f.StringVar(&o.RuleName, "rule-name", "karpenter-alerts", "PrometheusRule name")
	f.StringVar(&o.RuleNamespace, "rule-namespace", "", "PrometheusRule namespace (default: Karpenter's namespace)")
	f.StringToStringVar(&o.RuleLabels, "rule-label", nil, "Label on the PrometheusRule, KEY=VALUE, repeatable (e.g. release=kube-prometheus-stack for the operator's ruleSelector)")
	f.IntVar(&o.SwitchThreshold, "switch-threshold", 0, "Leader switches within --switch-window that fire KarpenterLeaderFlapping (default: replicas + 1, at least 3)")
	f.DurationVar(&o.SwitchWindow, "switch-window", alerts.DefaultSwitchWindow, "Window over which leader switches are counted")
	f.Float64Var(&o.APIErrorRatio, "api-error-ratio", alerts.DefaultAPIErrorRatio, "Share of a replica's API requests failing (5xx, 429, 401/403, no response) that fires KarpenterAPIErrors")
	f.StringVar(&o.RunbookURL, "runbook-url", "", "Runbook link for every alert; #<alertname> is appended unless the URL has a fragment")
	f.BoolVar(&o.KubeStateMetrics, "kube-state-metrics", false, "Add KarpenterPodRestarting from kube-state-metrics' kube_pod_container_status_restarts_total")
	f.DurationVar(&o.ScrapeInterval, "scrape-interval", alerts.DefaultScrapeInterval, "Prometheus scrape interval of Karpenter's metrics (lengthens the waits)")
	f.DurationVar(&o.LeaseDuration, "lease-duration", 0, "Lease duration (default: the Lease's leaseDurationSeconds, else 15s)")
	f.DurationVar(&o.RetryPeriod, "retry-period", alerts.DefaultRetryPeriod, "Leader-election retry period (Karpenter v1.15.0 uses controller-runtime's 2s; the cluster does not record it)")
	return cmd
}

// Validate checks the flags and, with --offline, completes the rule options; nothing has been sent
// to the cluster yet.
func (o *AlertsOptions) Validate() error {
	if o.LeaseDuration < 0 || o.RetryPeriod <= 0 || o.ScrapeInterval <= 0 || o.SwitchThreshold < 0 {
		return cli.UsageError("--lease-duration, --retry-period, --scrape-interval and --switch-threshold must not be negative")
	}
	o.rules = alerts.Options{
		Job: o.Job, LeaseName: o.LeaseName, SwitchThreshold: o.SwitchThreshold, SwitchWindow: o.SwitchWindow,
		APIErrorRatio: o.APIErrorRatio, RunbookURL: o.RunbookURL, KubeStateMetrics: o.KubeStateMetrics,
		ScrapeInterval: o.ScrapeInterval, RetryPeriod: o.RetryPeriod, LeaseDuration: o.LeaseDuration,
	}
	if o.LeaseDuration > 0 {
		o.rules.LeaseDurationSource = "--lease-duration"
	}
	find := o.env.Globals.Find
	var leaseNS, leaseName string
	if find.Lease != "" {
		var err error
		if leaseNS, leaseName, err = cli.ParseLease(find.Lease); err != nil {
			return err
		}
	}
	if !o.Offline {
		return usageError(o.rules.WithDefaults().ValidateThresholds())
	}
	ns := cmp.Or(find.Namespace, leaseNS, o.env.Globals.Namespace())
	if ns == "" {
		return cli.UsageError("--offline needs Karpenter's namespace: give -n NAMESPACE, --karpenter-namespace or --lease NAMESPACE/NAME")
	}
	o.rules, o.where = alerts.Offline(o.rules, ns, leaseName)
	return usageError(o.rules.Validate())
}

// Run builds the rules for the Karpenter found (or described by flags) and prints them.
func (o *AlertsOptions) Run(ctx context.Context) error {
	in, where := o.rules, o.where
	if !o.Offline {
		c, _, k, err := o.env.FindKarpenter(ctx)
		if err != nil {
			return err
		}
		in, where, err = alerts.ForKarpenter(ctx, c, k, o.rules)
		if errors.Is(err, alerts.ErrLeaderElectionDisabled) {
			return cli.UsageError("%v", err)
		}
		if err != nil {
			return err
		}
	}
	groups, err := alerts.Build(in)
	if err != nil {
		return cli.UsageError("%v", err)
	}
	var v any = alerts.RuleFile{Groups: groups}
	if o.Format == alerts.PrometheusRuleFormat {
		labels := map[string]string{"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/managed-by": "karpctl"}
		maps.Copy(labels, o.RuleLabels)
		v = alerts.NewPrometheusRule(o.RuleName, cmp.Or(o.RuleNamespace, in.Namespace), labels, groups)
	}
	return alerts.Render(o.env.Out, v, groups, alerts.Header(in, where, cli.Version, groups))
}

// usageError is err as a usage error (exit 2), nil for nil.
func usageError(err error) error {
	if err != nil {
		return cli.UsageError("%v", err)
	}
	return nil
}
