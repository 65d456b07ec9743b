package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/output"
)

// fleetRequestTimeout is each cluster's --request-timeout in fleet mode when none is given: kubectl's
// default (none) would let one cluster that accepts connections but never answers hold the table.
const fleetRequestTimeout = 30 * time.Second

// fleetFlags are the flags of fleet mode, which only the read commands that support it accept.
var fleetFlags = []string{"contexts", "all-contexts", "context-selector"}

// FleetOptions fan a read command out over kubeconfig contexts (lease, health, audit-topology,
// version): --contexts, --all-contexts, --context-selector, --parallel.
type FleetOptions struct {
	env      *Env
	Contexts []string
	All      bool
	Selector string
	Parallel int

	flags *pflag.FlagSet
	names []string
}

// AddFlags registers the fleet flags on the command's flag set.
func (f *FleetOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.Contexts, "contexts", nil, "Ask these kubeconfig contexts at once (a,b,c or repeated): one summary row per context; each cluster has its own --request-timeout (default 30s here)")
	fs.BoolVar(&f.All, "all-contexts", false, "Ask every context of the kubeconfig at once")
	fs.StringVar(&f.Selector, "context-selector", "", "Only the contexts whose name matches this regular expression (implies --all-contexts)")
	fs.IntVar(&f.Parallel, "parallel", fleet.DefaultParallel, "With --contexts or --all-contexts: how many clusters are read at once")
	f.flags = fs
}

// On reports whether a fleet flag was given.
func (f *FleetOptions) On() bool {
	for _, name := range fleetFlags {
		if f.flags.Changed(name) {
			return true
		}
	}
	return false
}

// flag names the fleet flag the user gave, for error messages.
func (f *FleetOptions) flag() string {
	for _, name := range fleetFlags {
		if f.flags.Changed(name) {
			return "--" + name
		}
	}
	return "--contexts"
}

// Validate checks fleet mode's flags and resolves the contexts from the kubeconfig; nothing is sent
// to any cluster. single are the command's flags that only make sense for one cluster.
func (f *FleetOptions) Validate(single ...string) error {
	if !f.On() {
		if f.flags.Changed("parallel") {
			return cli.UsageError("--parallel needs --contexts, --all-contexts or --context-selector")
		}
		return nil
	}
	for _, name := range append(single, "server", "cluster") {
		if f.flags.Changed(name) {
			return cli.UsageError("--%s does not go with %s: it is for one cluster at a time", name, f.flag())
		}
	}
	if c := f.env.Globals.Kube.Context; c != nil && *c != "" {
		return cli.UsageError("--context and %s do not go together: --context picks one cluster, %s several", f.flag(), f.flag())
	}
	if f.Parallel < 1 {
		return cli.UsageError("--parallel %d: want at least 1", f.Parallel)
	}
	raw, err := f.env.Globals.Kubeconfig()
	if err != nil {
		return err
	}
	names, err := fleet.Select(raw, fleet.Selection{Names: f.Contexts, All: f.All, Pattern: f.Selector})
	if err != nil {
		return cli.UsageError("%v", err)
	}
	f.names = names
	return nil
}

// envFor is the command's Env pointed at one context, with the fleet's request timeout.
func (f *FleetOptions) envFor(name string) *Env {
	g := f.env.Globals.ForContext(name)
	if !f.flags.Changed("request-timeout") {
		t := fleetRequestTimeout.String()
		g.Kube.Timeout = &t
	}
	e := *f.env
	e.Globals = g
	return &e
}

// fleetRun is a command in fleet mode: it asks every selected context with check (the command's
// single-cluster logic) while a progress line on a terminal counts the answers once that takes
// longer than a second, prints the outcomes (-o json|yaml as they are, -o sarif converted by sarif,
// else table) and returns the worst context's exit.
func fleetRun[T any](ctx context.Context, f *FleetOptions, command string, format output.Format,
	check func(context.Context, *Env) (T, int, error),
	table func(io.Writer, output.Styles, []fleet.Outcome[T], bool) error,
	sarif func([]fleet.Outcome[T]) any,
) error {
	p := output.NewProgress(f.env.ErrOut, progressAfter, func(done, total int) string {
		return fmt.Sprintf("%d/%d clusters answered", done, total)
	})
	p.Update(0, len(f.names))
	outs := fleet.Run(ctx, f.names, fleet.Options{Parallel: f.Parallel, OnAnswer: p.Update}, func(ctx context.Context, name string) (T, int, error) {
		return check(ctx, f.envFor(name))
	})
	p.Done()
	var err error
	if format == output.SARIF {
		err = output.Write(f.env.Out, output.JSON, sarif(outs))
	} else {
		err = f.env.print(format, outs, func(w io.Writer, s output.Styles, wide bool) error { return table(w, s, outs, wide) })
	}
	if err != nil {
		return err
	}
	return fleetExit(command, fleet.Summarize(outs))
}

// fleetExit is the fleet command's exit: the worst context's code, with one line naming the
// contexts that were not OK.
func fleetExit(command string, s fleet.Summary) error {
	if s.ExitCode == cli.ExitOK {
		return nil
	}
	return &cli.ExitError{Code: s.ExitCode, Err: fmt.Errorf("%s: %d of %d clusters not OK: %s", command, len(s.Bad), s.Total, strings.Join(s.Bad, ", "))}
}

// refuseFleetFlags turns an unknown fleet flag on a one-cluster command (plan, drill, alerts) into a
// usage error that says why, instead of pflag's bare "unknown flag".
func refuseFleetFlags(c *cobra.Command, err error) error {
	for _, name := range fleetFlags {
		if err.Error() == "unknown flag: --"+name {
			return cli.UsageError("%s works on one cluster at a time, by design: --%s is for lease, health, audit-topology and version; choose the cluster with --context NAME", c.CommandPath(), name)
		}
	}
	return nil
}
