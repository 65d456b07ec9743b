package commands

import (
	"context"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/view"
)

// VersionInfo is `version -o json`.
type VersionInfo = view.VersionInfo

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
		RunE:  func(cmd *cobra.Command, _ []string) error { return o.Run(cmd.Context()) },
	}
	output.AddFormatFlag(cmd.Flags(), &o.Format, output.TableFormat, output.Wide, output.JSON, output.YAML)
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "Only karpctl's own versions; do not contact the cluster")
	o.Fleet.AddFlags(cmd.Flags())
	return cmd
}

// Run prints the versions: karpctl's, and the cluster's unless --client (one cluster, or a row per
// context with --contexts).
func (o *VersionOptions) Run(ctx context.Context) error {
	if err := o.Fleet.Validate("client"); err != nil {
		return err
	}
	if o.Fleet.On() {
		return fleetRun(ctx, &o.Fleet, "version", o.Format, o.check, view.VersionFleet, nil)
	}
	v := clientVersion()
	if !o.ClientOnly {
		var err error
		if v, _, err = o.check(ctx, o.env); err != nil {
			v.Error = cli.Message(err)
		}
	}
	if o.Format.Machine() {
		return output.Write(o.env.Out, o.Format, v)
	}
	return view.Version(o.env.Out, o.env.Styles(), v, o.ClientOnly)
}

func clientVersion() VersionInfo {
	b := cli.Build()
	return VersionInfo{Karpctl: b.Version, Commit: b.Commit, CommitDate: b.Date, Engine: cli.Engine(),
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, AWSData: engine.DefaultAWSModel.Data()}
}

// check reads one cluster's versions: the server's and Karpenter's image (none when Karpenter is not
// found, which is no error here). An unreachable cluster is the error.
func (o *VersionOptions) check(ctx context.Context, env *Env) (VersionInfo, int, error) {
	v := clientVersion()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, _, err := env.Clients()
	if err != nil {
		return v, cli.ExitOK, err
	}
	sv, err := c.Discovery().ServerVersion()
	if err != nil {
		return v, cli.ExitOK, err
	}
	v.Server = sv.GitVersion
	if k, err := env.Karpenter(ctx, c); err == nil {
		v.KarpenterImage, v.KarpenterVersion, v.KarpenterNamespace = k.Image, k.Version, k.Namespace
	}
	return v, cli.ExitOK, nil
}
