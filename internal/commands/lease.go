package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

const leaseExample = `  # Who leads, is the lease fresh, which pods wait
  kubectl karpctl lease

  # Karpenter installed elsewhere, or a custom lease
  kubectl karpctl lease --karpenter-namespace karpenter
  kubectl karpctl lease --lease karpenter/karpenter-leader-election

  # Follow holder changes, releases and expiries; Ctrl-C prints the election-cycle summary
  kubectl karpctl lease --watch

  # Machine-readable
  kubectl karpctl lease -o json

  # Who leads where, across clusters: one row per kubeconfig context
  kubectl karpctl lease --contexts prod-us,prod-eu,staging
  kubectl karpctl lease --context-selector '^prod-' -o wide`

// LeaseOptions are the lease command's flags.
type LeaseOptions struct {
	env           *Env
	Format        output.Format
	Watch         bool
	WatchDuration time.Duration
	Verbose       bool
	Serve         string
	Fleet         FleetOptions
}

func newLeaseCmd(env *Env) *cobra.Command {
	o := &LeaseOptions{env: env, Fleet: FleetOptions{env: env}}
	cmd := &cobra.Command{
		Use:     "lease",
		Short:   "Show who holds Karpenter's leader-election lease, whether it is fresh, and which pods wait",
		Example: leaseExample,
		Args:    cobra.NoArgs,
		RunE:    validatedRun(o),
	}
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "Stream holder changes, releases, expiries and API-server silences until Ctrl-C, then print a summary")
	cmd.Flags().DurationVar(&o.WatchDuration, "watch-duration", 0, "With --watch: stop after this long (0 = until Ctrl-C)")
	cmd.Flags().BoolVar(&o.Verbose, "verbose", false, "With --watch: print every renewal too")
	cmd.Flags().StringVar(&o.Serve, "serve", "", "Serve the lease as Prometheus metrics (holder, renew age, transitions, failover gaps) on ADDR, e.g. :9090, until Ctrl-C")
	o.Fleet.AddFlags(cmd.Flags())
	return cmd
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *LeaseOptions) Validate() error {
	if o.WatchDuration < 0 {
		return cli.UsageError("--watch-duration must not be negative")
	}
	if o.Serve != "" && o.Watch {
		return cli.UsageError("--serve and --watch do not go together: the exporter watches the lease itself")
	}
	return o.Fleet.Validate("watch", "watch-duration", "serve", "verbose")
}

// Run finds Karpenter and reports or watches its lease, or reports the lease of every context.
func (o *LeaseOptions) Run(ctx context.Context) error {
	if o.Fleet.On() {
		return fleetRun(ctx, &o.Fleet, "lease", o.Format, o.check, view.LeaseFleet, nil)
	}
	if o.Serve != "" || o.Watch {
		return o.follow(ctx)
	}
	st, code, err := o.check(ctx, o.env)
	if err != nil {
		return err
	}
	if err := o.env.print(o.Format, st, func(w io.Writer, s output.Styles, wide bool) error {
		return view.LeaseStatus(w, s, st, wide)
	}); err != nil {
		return err
	}
	if code != cli.ExitOK {
		return cli.Unhealthy("lease %s/%s is %s", st.Namespace, st.Name, st.Verdict)
	}
	return nil
}

// check reads one cluster's lease: its status and exit code (unhealthy unless the verdict is OK).
func (o *LeaseOptions) check(ctx context.Context, env *Env) (lease.Status, int, error) {
	c, _, k, err := env.FindKarpenter(ctx)
	if err != nil {
		return lease.Status{}, cli.ExitOK, err
	}
	st, err := lease.Read(ctx, c, k, time.Now)
	if err != nil {
		return lease.Status{}, cli.ExitOK, err
	}
	if !st.OK() {
		return st, cli.ExitUnhealthy, nil
	}
	return st, cli.ExitOK, nil
}

// follow is --watch and --serve: they need a lease to follow.
func (o *LeaseOptions) follow(ctx context.Context) error {
	c, _, k, err := o.env.FindKarpenter(ctx)
	if err != nil {
		return err
	}
	if k.LeaderElectionDisabled {
		what := "watch"
		if o.Serve != "" {
			what = "export"
		}
		return cli.Unhealthy("leader election is disabled (DISABLE_LEADER_ELECTION=true on %s/%s): there is no lease to %s", k.Namespace, k.Name, what)
	}
	if o.Serve != "" {
		return o.serve(ctx, c, k)
	}
	return o.watch(ctx, c, k)
}

func (o *LeaseOptions) watch(ctx context.Context, cs kubernetes.Interface, k *discovery.Karpenter) error {
	if o.WatchDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.WatchDuration)
		defer cancel()
	}
	s := o.env.Styles()
	onEvent := func(e lease.Event) {
		switch {
		case o.Format.Machine():
			if e.Kind != lease.EventRenewed || o.Verbose {
				_ = output.WriteStreamed(o.env.Out, o.Format, struct {
					Event lease.Event `json:"event"`
				}{e})
			}
		default:
			view.LeaseEvent(o.env.Out, s, e, o.Verbose)
		}
	}
	if !o.Format.Machine() {
		fmt.Fprintf(o.env.Out, "Watching lease %s/%s (Ctrl-C to stop)\n", k.LeaseNamespace, k.LeaseName)
	}
	sum, err := lease.Watch(ctx, cs, k.LeaseNamespace, k.LeaseName, onEvent)
	if o.Format.Machine() {
		_ = output.WriteStreamed(o.env.Out, o.Format, struct {
			Summary lease.Summary `json:"summary"`
		}{sum})
	} else {
		_ = view.LeaseSummary(o.env.Out, s, sum)
	}
	return err
}
