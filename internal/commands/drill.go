package commands

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

const drillExample = `  # Evict the leader and time the handover (asks for confirmation)
  kubectl karpctl drill leader-kill

  # Show the gates and the plan only
  kubectl karpctl drill leader-kill --dry-run

  # Unattended, as a crash (delete with grace period 0), with a JSON report
  kubectl karpctl drill leader-kill --yes --mode hard --report drill.json

  # Also measure how long the cluster cannot scale: a probe pod only a new node can take
  kubectl karpctl drill leader-kill --yes --probe

  # Lose zone us-east-1a for the Karpenter controller: cordon, evict, measure, uncordon
  kubectl karpctl drill zone-outage us-east-1a --yes

  # After a crashed drill: uncordon what it cordoned and drop its lock
  kubectl karpctl drill restore

  # Past drills with failover trends per cluster/context
  kubectl karpctl drill history`

// DrillOptions are the flags of drill leader-kill and zone-outage.
type DrillOptions struct {
	env         *Env
	kind        drill.Kind
	Format      output.Format
	Yes         bool
	DryRun      bool
	Force       bool
	Mode        string
	Timeout     time.Duration
	RetryPeriod time.Duration
	Slack       time.Duration
	// UnschedulableGrace: see drill.Options.
	UnschedulableGrace time.Duration
	ReportFile         string
	Zone               string
	// Probe, ProbeRequests, ProbeLaunch: see drill.Options.
	Probe         bool
	ProbeRequests string
	ProbeLaunch   time.Duration

	// Completed and validated from the flags.
	mode        drill.Mode
	requests    corev1.ResourceList
	kubeContext string
}

func init() { register(newDrillCmd) }

func newDrillCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Failover drills: leader-kill, zone-outage, restore, history",
		Long: `Drills disrupt Karpenter on purpose and measure the recovery from the Lease's own timestamps.

Each drill runs preflight gates (RBAC via SelfSubjectAccessReview, ≥ 2 ready replicas, a Healthy
lease, a leader that is a known pod, a PodDisruptionBudget that permits the disruption, no other drill
running), shows the plan and asks for confirmation (--yes skips; without a terminal and without --yes
it refuses). It then acts, prints a live timeline from watches of the Lease and the pods, judges the
failover against the path that happened (released: retry period + slack; expired: lease duration +
2 × retry period + slack), writes --report FILE, and appends a line to the history file
($XDG_STATE_HOME/karpctl/drills.jsonl, default ~/.local/state/karpctl/drills.jsonl).

Karpenter v1.15.0 never releases its lease on shutdown, so evicting its leader costs ~15–19 s
without a leader (the expired path); the report says so.

--probe measures what operators feel: after the action it creates one pause pod that only a new node
of the first usable NodePool can take, and times, on the same timeline, the new leader acquiring →
the probe Unschedulable → the NodeClaim the new leader creates → its node Ready → the probe Running.
"Provisioning resumed after X s" is judged against the new leader's controller start + Karpenter's
batch window (BATCH_MAX_DURATION from the Deployment, default 10s) + slack, and the probe's start
against a node-launch allowance. The probe pod and its NodeClaim are deleted on every exit.

Exit codes: 0 PASS (or dry run), 1 API error or missing permission, 2 usage (incl. no confirmation),
3 refused by a gate or FAIL.`,
		Example: drillExample,
	}
	cmd.AddCommand(newDrillRunCmd(env, drill.LeaderKill), newDrillRunCmd(env, drill.ZoneOutage), newDrillRestoreCmd(env), newDrillHistoryCmd(env))
	return cmd
}

func newDrillRunCmd(env *Env, kind drill.Kind) *cobra.Command {
	o := &DrillOptions{env: env, kind: kind}
	cmd := &cobra.Command{RunE: func(cmd *cobra.Command, args []string) error {
		o.Complete(args)
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}}
	switch kind {
	case drill.LeaderKill:
		cmd.Use = "leader-kill"
		cmd.Short = "Evict (or, with --mode hard, delete) the leader pod and time the handover"
		cmd.Args = cobra.NoArgs
	case drill.ZoneOutage:
		cmd.Use = "zone-outage ZONE"
		cmd.Short = "Cordon ZONE's nodes that can run Karpenter, evict its replicas there, measure, always uncordon"
		cmd.Args = cobra.ExactArgs(1)
	}
	f := cmd.Flags()
	output.AddFormatFlag(f, &o.Format, output.TableFormat, output.JSON, output.YAML)
	f.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	f.BoolVar(&o.DryRun, "dry-run", false, "Run the preflight gates, print the plan and stop")
	f.BoolVar(&o.Force, "force", false, "Override the gates that are safe to override (a stale drill lock; a zone holding every replica)")
	f.StringVar(&o.Mode, "mode", string(drill.Evict), "evict (Eviction API, honours PDBs) or hard (delete with grace period 0, like a crash)")
	f.DurationVar(&o.Timeout, "timeout", 3*time.Minute, "Give up (FAIL) after this long without a new leader and all replicas Ready")
	f.DurationVar(&o.RetryPeriod, "retry-period", 2*time.Second, "Karpenter's leader-election retry period (not recorded in the Lease; v1.15.0 uses 2s)")
	f.DurationVar(&o.Slack, "slack", drill.DefaultSlack, "Slack added to the failover bound")
	f.DurationVar(&o.UnschedulableGrace, "unschedulable-grace", drill.DefaultUnschedulableGrace, "End the drill (FAIL) once a replacement pod has been Unschedulable this long and the leader has failed over")
	f.StringVar(&o.ReportFile, "report", "", "Write the JSON report to FILE")
	f.BoolVar(&o.Probe, "probe", false, "After the action, create a probe pod only a new node can take and measure when Karpenter provisions again (deleted with its NodeClaim at the end)")
	f.StringVar(&o.ProbeRequests, "probe-requests", "", "The probe's requests, e.g. cpu=500m,memory=512Mi (default: half the allocatable of the smallest instance type of the first usable NodePool)")
	f.DurationVar(&o.ProbeLaunch, "probe-launch", 0, "Node-launch allowance in the probe's bound (default 10s for kwok nodes, 3m otherwise)")
	return cmd
}

// Complete takes the zone from the arguments and the kubeconfig context for the history.
func (o *DrillOptions) Complete(args []string) {
	if o.kind == drill.ZoneOutage {
		o.Zone = args[0]
	}
	o.mode = drill.Mode(o.Mode)
	o.kubeContext = o.contextName()
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *DrillOptions) Validate() error {
	if o.mode != drill.Evict && o.mode != drill.Hard {
		return cli.UsageError("--mode %q: want evict or hard", o.Mode)
	}
	if o.Timeout <= 0 || o.RetryPeriod <= 0 || o.Slack < 0 || o.UnschedulableGrace <= 0 || o.ProbeLaunch < 0 {
		return cli.UsageError("--timeout, --retry-period and --unschedulable-grace must be positive, --slack and --probe-launch not negative")
	}
	if o.ProbeRequests == "" {
		return nil
	}
	if !o.Probe {
		return cli.UsageError("--probe-requests needs --probe")
	}
	var err error
	if o.requests, err = drill.ParseRequests(o.ProbeRequests); err != nil {
		return cli.UsageError("%v", err)
	}
	return nil
}

// Run: preflight, plan, confirmation, action, timeline, verdict, report, history. An API error
// during the drill exits 1, a FAIL or refused drill 3.
func (o *DrillOptions) Run(ctx context.Context) error {
	c, pre, err := o.preflight(ctx)
	if err != nil {
		return err
	}
	human, s := !o.Format.Machine(), o.env.Styles()
	if human {
		view.DrillPreflight(o.env.Out, s, pre)
	}
	if g := pre.Refusal(); g != nil {
		return o.refused(pre, g)
	}
	if o.DryRun {
		return o.env.print(o.Format, pre.NewReport(drill.DryRun, "dry run: nothing was changed"), func(w io.Writer, _ output.Styles, _ bool) error {
			_, err := fmt.Fprintln(w, "\nDry run: nothing was changed.")
			return err
		})
	}
	if !o.Yes {
		ok, err := o.confirm(ctx)
		if err != nil {
			return err
		}
		if !ok {
			return cli.UsageError("drill cancelled: not confirmed; nothing was changed")
		}
	}
	var onEvent func(drill.Event)
	if human {
		fmt.Fprintf(o.env.Out, "\nTimeline (offsets from the %s):\n", map[drill.Mode]string{drill.Evict: "eviction", drill.Hard: "deletion"}[o.mode])
		onEvent = func(e drill.Event) { view.DrillEvent(o.env.Out, s, e) }
	}
	r, err := drill.Run(ctx, c, pre, onEvent)
	o.finish(r)
	if err != nil {
		return &cli.ExitError{Code: cli.ExitAPI, Err: fmt.Errorf("drill %s %s: %w", o.kind, r.Result, err)}
	}
	if r.Result != drill.Pass {
		return cli.Unhealthy("drill %s %s: %s", o.kind, r.Result, r.Reason)
	}
	return nil
}

// preflight finds Karpenter and runs the gates.
func (o *DrillOptions) preflight(ctx context.Context) (drill.Client, *drill.Preflight, error) {
	cs, cfg, k, err := o.env.FindKarpenter(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := drillClient(cs, cfg)
	if err != nil {
		return nil, nil, err
	}
	opts := drill.Options{Kind: o.kind, Mode: o.mode, Zone: o.Zone, Force: o.Force,
		Timeout: o.Timeout, RetryPeriod: o.RetryPeriod, Slack: o.Slack, UnschedulableGrace: o.UnschedulableGrace, Cluster: cfg.Host, Context: o.kubeContext,
		Probe: o.Probe, ProbeRequests: o.requests, ProbeLaunch: o.ProbeLaunch}
	if o.Probe {
		// The probe's predictions run Karpenter's code with the settings the cluster's Karpenter
		// runs with, read as plan reads them.
		if opts.Settings, err = readKarpenterSettings(ctx, k.Deployment, karpenter.ConfigMapsOf(cs), nil); err != nil {
			return nil, nil, err
		}
	}
	pre, err := drill.Check(ctx, c, k, opts)
	return c, pre, err
}

// refused records the refusal; a missing permission is an API error, any other gate a bad verdict.
func (o *DrillOptions) refused(pre *drill.Preflight, g *drill.Gate) error {
	o.finish(pre.NewReport(drill.Refused, fmt.Sprintf("gate %s: %s", g.Name, g.Message)))
	if g.Permission {
		return &cli.ExitError{Code: cli.ExitAPI, Err: fmt.Errorf("drill refused before changing anything: %s", g.Message)}
	}
	hint := ""
	if g.Overridable {
		hint = " (--force overrides this gate)"
	}
	return cli.Unhealthy("drill refused by gate %s: %s%s", g.Name, g.Message, hint)
}

// finish prints the report, writes --report and appends the history line; failing to write is a
// warning, never the drill's result.
func (o *DrillOptions) finish(r *drill.Report) {
	var errs []string
	_ = o.env.print(o.Format, r, func(w io.Writer, s output.Styles, _ bool) error {
		if r.Result == drill.Refused {
			return nil // the gates above say why
		}
		return view.DrillReport(w, s, r)
	})
	if o.ReportFile != "" {
		var b bytes.Buffer
		_ = output.Write(&b, output.JSON, r)
		if err := os.WriteFile(o.ReportFile, b.Bytes(), 0o644); err != nil {
			errs = append(errs, fmt.Sprintf("writing report: %v", err))
		}
	}
	if path, err := drill.HistoryPath(); err != nil {
		errs = append(errs, err.Error())
	} else if err := drill.AppendHistory(path, r.Entry()); err != nil {
		errs = append(errs, err.Error())
	} else if !o.Format.Machine() && r.Result != drill.Refused {
		fmt.Fprintf(o.env.Out, "\nRecorded in %s\n", path)
	}
	if len(errs) > 0 {
		fmt.Fprintf(o.env.ErrOut, "warning: %s\n", strings.Join(errs, "; "))
	}
}

// confirm asks on a terminal; without one it refuses (exit 2) instead of guessing.
func (o *DrillOptions) confirm(ctx context.Context) (bool, error) {
	f, ok := o.env.In.(*os.File)
	if !ok || !output.Terminal(f) {
		return false, cli.UsageError("refusing to run the drill without confirmation: standard input is not a terminal; pass --yes to run it unattended (nothing was changed)")
	}
	fmt.Fprint(o.env.ErrOut, "\nProceed with the drill? Type 'yes' to continue: ")
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(io.LimitReader(f, 1024)).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done(): // Ctrl-C at the prompt: a no, at once (the read is abandoned; the process ends)
		fmt.Fprintln(o.env.ErrOut)
		return false, nil
	case line := <-answer:
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "yes" || a == "y", nil
	}
}

func (o *DrillOptions) contextName() string {
	if c := o.env.Globals.Kube.Context; c != nil && *c != "" {
		return *c
	}
	raw, err := o.env.Globals.Kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	return raw.CurrentContext
}

// DrillRestoreOptions are the flags of drill restore.
type DrillRestoreOptions struct {
	env    *Env
	Format output.Format
	ID     string
}

func newDrillRestoreCmd(env *Env) *cobra.Command {
	o := &DrillRestoreOptions{env: env}
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Undo what a crashed drill left: uncordon the nodes it marked, delete its lock",
		Long: `restore finds every node carrying the karpctl.io/drill-cordoned label (put there, with the same
annotation, by zone-outage on each node it cordons), uncordons it and removes the marks; deletes every
probe pod labelled karpctl.io/drill-probe in the Karpenter namespace with its NodeClaim (the one it
runs on, the ones labelled with its drill id, the ones Karpenter nominated it for); and deletes the
drill lock Lease karpctl-drill in the Karpenter namespace. Nodes cordoned by anyone else carry no
mark and are never touched. --id limits it to one drill.`,
		Args: cobra.NoArgs,
		RunE: validatedRun(o),
	}
	cmd.Flags().StringVar(&o.ID, "id", "", "Restore only what this drill id left")
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.JSON, output.YAML)
	return cmd
}

// Validate checks --id: it selects by label, so it must be a label value.
func (o *DrillRestoreOptions) Validate() error {
	if errs := validation.IsValidLabelValue(o.ID); len(errs) > 0 {
		return cli.UsageError("--id %q is not a drill id: %s", o.ID, strings.Join(errs, "; "))
	}
	return nil
}

// Run restores what crashed drills left in Karpenter's namespace (only the nodes when Karpenter is
// not found) and prints what it undid.
func (o *DrillRestoreOptions) Run(ctx context.Context) error {
	cs, cfg, err := o.env.Clients()
	if err != nil {
		return err
	}
	c, err := drillClient(cs, cfg)
	if err != nil {
		return err
	}
	ns := ""
	if k, err := o.env.Karpenter(ctx, cs); err == nil {
		ns = k.Namespace
	} else {
		fmt.Fprintf(o.env.ErrOut, "warning: %s; only nodes are restored\n", cli.Message(err))
	}
	res, rerr := drill.Restore(ctx, c, ns, o.ID)
	if err := o.env.print(o.Format, res, func(w io.Writer, _ output.Styles, _ bool) error { return view.DrillRestore(w, res) }); err != nil {
		return err
	}
	return rerr
}

// drillClient is the drill's client over cs and, for Karpenter's NodePools and NodeClaims, a dynamic
// client from the same config.
func drillClient(cs kubernetes.Interface, cfg *rest.Config) (drill.Kube, error) {
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return drill.Kube{}, fmt.Errorf("building the dynamic client: %w", err)
	}
	return drill.Kube{C: cs, D: d}, nil
}

// DrillHistoryOptions are the flags of drill history.
type DrillHistoryOptions struct {
	env    *Env
	Format output.Format
}

func newDrillHistoryCmd(env *Env) *cobra.Command {
	o := &DrillHistoryOptions{env: env}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Print past drills with failover trends (count, p50/max) per cluster/context",
		Args:  cobra.NoArgs,
		RunE:  validatedRun(o),
	}
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.JSON, output.YAML)
	return cmd
}

// Validate has nothing to check: -o checks itself, and history reads a local file only.
func (o *DrillHistoryOptions) Validate() error { return nil }

// Run reads the history file and prints its trends and drills.
func (o *DrillHistoryOptions) Run(context.Context) error {
	path, err := drill.HistoryPath()
	if err != nil {
		return err
	}
	h, bad, err := drill.LoadHistory(path)
	if err != nil {
		return err
	}
	if bad > 0 {
		fmt.Fprintf(o.env.ErrOut, "warning: %d unreadable line(s) in %s skipped\n", bad, path)
	}
	return o.env.print(o.Format, h, func(w io.Writer, s output.Styles, _ bool) error { return view.DrillHistory(w, s, h) })
}
