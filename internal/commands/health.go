package commands

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

const healthExample = `  # One line per check, a verdict, exit 3 on FAIL
  kubectl karpctl health

  # Also exit 3 on WARN (for CI / cron)
  kubectl karpctl health --strict

  # Without reading each replica's /metrics through the pod proxy
  kubectl karpctl health --no-metrics

  # Machine-readable
  kubectl karpctl health -o json

  # Every cluster of the kubeconfig: a row per context, exit 3 if any is unhealthy
  kubectl karpctl health --all-contexts`

// HealthOptions are the health command's flags.
type HealthOptions struct {
	env            *Env
	Format         output.Format
	Strict         bool
	NoMetrics      bool
	MetricsTimeout time.Duration
	APITimeout     time.Duration
	Fleet          FleetOptions
}

func init() { register(newHealthCmd) }

func newHealthCmd(env *Env) *cobra.Command {
	o := &HealthOptions{env: env, Fleet: FleetOptions{env: env}}
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check Karpenter: Deployment, leader and lease, followers, restarts, Warning events, each replica's metrics",
		Long: `health runs one check per line and prints OK, WARN, FAIL or SKIPPED with the reason:
the Deployment is available; exactly one lease holder, a Running and Ready Karpenter pod; the lease
renew age is within its duration; followers are Ready; restarts and last termination reasons
(OOMKilled, Error, CrashLoopBackOff) per replica; Warning events on the Karpenter pods in the last
hour; and each replica's own /metrics read through the API server's pod proxy (GET pods/proxy):
leader_election_master_status (exactly one replica says 1, the lease holder), client_go_request_total
by code (non-2xx share, 429s) and client_go_request_duration_seconds.

A metrics check that cannot run (no pods/proxy permission, an unreachable port, a pod address the
API server refuses to proxy to) is SKIPPED with the exact error, never passed silently.

A lease read that does not answer within --api-timeout is "API server unreachable" (exit 1): the
lease's state is then unknown, and health never judges it stale on that account.

Exit codes: 0 OK or WARN (WARN is 3 with --strict), 1 API error or API server unreachable, 3 FAIL.`,
		Example: healthExample,
		Args:    cobra.NoArgs,
		RunE:    validatedRun(o),
	}
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	cmd.Flags().BoolVar(&o.Strict, "strict", false, "Exit 3 on WARN too")
	cmd.Flags().BoolVar(&o.NoMetrics, "no-metrics", false, "Do not read the replicas' /metrics through the pod proxy")
	cmd.Flags().DurationVar(&o.MetricsTimeout, "metrics-timeout", 5*time.Second, "Timeout of each proxied /metrics read")
	cmd.Flags().DurationVar(&o.APITimeout, "api-timeout", health.DefaultAPITimeout, "Exit 1 (API server unreachable) when finding Karpenter or reading its lease takes longer")
	o.Fleet.AddFlags(cmd.Flags())
	return cmd
}

// Validate checks the flags and resolves fleet mode's contexts; nothing has been sent to the
// cluster yet.
func (o *HealthOptions) Validate() error {
	if o.APITimeout <= 0 {
		return cli.UsageError("--api-timeout must be positive")
	}
	return o.Fleet.Validate()
}

// Run finds Karpenter, runs the checks and prints them (for one cluster, or a row per context).
func (o *HealthOptions) Run(ctx context.Context) error {
	if o.Fleet.On() {
		return fleetRun(ctx, &o.Fleet, "health", o.Format, o.check, view.HealthFleet, nil)
	}
	r, code, err := o.check(ctx, o.env)
	if err != nil {
		return err
	}
	if err := o.env.print(o.Format, r, func(w io.Writer, s output.Styles, wide bool) error { return view.HealthReport(w, s, r, wide) }); err != nil {
		return err
	}
	switch {
	case code == cli.ExitOK:
		return nil
	case r.Verdict == health.Fail:
		return cli.Unhealthy("karpenter %s/%s is unhealthy: %s", r.Namespace, r.Deployment, view.FirstCheck(r, health.Fail))
	default:
		return cli.Unhealthy("karpenter %s/%s has warnings: %s", r.Namespace, r.Deployment, view.FirstCheck(r, health.Warn))
	}
}

// check runs one cluster's checks: the report and its exit code (unhealthy on FAIL, and on WARN
// with --strict).
func (o *HealthOptions) check(ctx context.Context, env *Env) (health.Report, int, error) {
	fctx, cancel := context.WithTimeout(ctx, o.APITimeout)
	defer cancel()
	c, _, k, err := env.FindKarpenter(fctx)
	if err != nil {
		return health.Report{}, cli.ExitOK, health.Unreachable(fctx, err, o.APITimeout)
	}
	r, err := health.Read(ctx, c, k, health.ReadOptions{NoMetrics: o.NoMetrics, MetricsTimeout: o.MetricsTimeout, APITimeout: o.APITimeout}, time.Now)
	if err != nil {
		return health.Report{}, cli.ExitOK, err
	}
	if r.Verdict == health.Fail || (r.Verdict == health.Warn && o.Strict) {
		return r, cli.ExitUnhealthy, nil
	}
	return r, cli.ExitOK, nil
}
