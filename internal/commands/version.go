package commands

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/versions"
	"github.com/karpctl/karpctl/internal/view"
)

// VersionOptions are the version command's flags.
type VersionOptions struct {
	env        *Env
	Format     output.Format
	ClientOnly bool
	Fleet      FleetOptions
}

func newVersionCmd(env *Env) *cobra.Command {
	o := &VersionOptions{env: env, Fleet: FleetOptions{env: env}}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print karpctl's version, the bundled Karpenter engine, and the cluster's versions",
		Args:  cobra.NoArgs,
		RunE:  validatedRun(o),
	}
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Only karpctl's own versions; do not contact the cluster")
	o.Fleet.AddFlags(cmd.Flags())
	return cmd
}

// Validate checks the flags; nothing has been sent to the cluster yet.
func (o *VersionOptions) Validate() error { return o.Fleet.Validate("client") }

// Run prints the versions: karpctl's, and the cluster's unless --client (one cluster, or a row per
// context with --contexts).
func (o *VersionOptions) Run(ctx context.Context) error {
	if o.Fleet.On() {
		return fleetRun(ctx, &o.Fleet, "version", o.Format, o.check, view.VersionFleet, nil)
	}
	v := versions.Client()
	if !o.ClientOnly {
		var err error
		if v, _, err = o.check(ctx, o.env); err != nil {
			v.Error = cli.Message(err)
		}
	}
	return o.env.print(o.Format, v, func(w io.Writer, s output.Styles, _ bool) error {
		return view.Version(w, s, v, o.ClientOnly)
	})
}

// check reads one cluster's versions: the server's and Karpenter's image (none when Karpenter is not
// found, which is no error here). An unreachable cluster is the error.
func (o *VersionOptions) check(ctx context.Context, env *Env) (versions.Info, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, _, err := env.Clients()
	if err != nil {
		return versions.Client(), cli.ExitOK, err
	}
	v, err := versions.Cluster(ctx, c, env.Karpenter)
	return v, cli.ExitOK, err
}
