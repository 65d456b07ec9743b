package commands

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/output"
)

// VersionInfo is `version -o json`.
type VersionInfo struct {
	Karpctl   string `json:"karpctl"`
	Engine    string `json:"engine"`
	GoVersion string `json:"goVersion"`
	// AWSData dates the EC2 facts and prices behind the AWS provider's instance-type model.
	AWSData engine.AWSData `json:"awsData"`
	// Server and Karpenter are empty when no cluster is reachable; Error says why.
	Server             string `json:"server,omitempty"`
	KarpenterImage     string `json:"karpenterImage,omitempty"`
	KarpenterVersion   string `json:"karpenterVersion,omitempty"`
	KarpenterNamespace string `json:"karpenterNamespace,omitempty"`
	Error              string `json:"error,omitempty"`
}

func newVersionCmd(env *Env) *cobra.Command {
	var format output.Format
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print karpctl's version, the bundled Karpenter engine, and the cluster's versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := VersionInfo{Karpctl: cli.Version, Engine: cli.Engine(), GoVersion: runtime.Version(), AWSData: engine.DefaultAWSModel.Data()}
			if !clientOnly {
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
				defer cancel()
				v.fillCluster(ctx, env)
			}
			if format.Machine() {
				return output.Write(env.Out, format, v)
			}
			pairs := [][2]string{{"karpctl", v.Karpctl}, {"Engine", v.Engine}, {"Go", v.GoVersion},
				{"AWS data", fmt.Sprintf("EC2 facts and prices of %s (spot prices are estimates)", v.AWSData.Generated.Format("2006-01-02"))}}
			if !clientOnly {
				if v.Error != "" {
					pairs = append(pairs, [2]string{"Cluster", "not reachable: " + v.Error})
				} else {
					pairs = append(pairs, [2]string{"Server", v.Server})
					if v.KarpenterImage != "" {
						pairs = append(pairs, [2]string{"Karpenter", fmt.Sprintf("%s (%s in %s)", cmp.Or(v.KarpenterVersion, "-"), v.KarpenterImage, v.KarpenterNamespace)})
					} else {
						pairs = append(pairs, [2]string{"Karpenter", "not found"})
					}
				}
			}
			return output.KV(env.Out, env.Styles(), pairs)
		},
	}
	output.AddFormatFlag(cmd.Flags(), &format, output.TableFormat, output.JSON, output.YAML)
	cmd.Flags().BoolVar(&clientOnly, "client", false, "Only karpctl's own versions; do not contact the cluster")
	return cmd
}

func (v *VersionInfo) fillCluster(ctx context.Context, env *Env) {
	c, _, err := env.Clients()
	if err != nil {
		v.Error = cli.Message(err)
		return
	}
	sv, err := c.Discovery().ServerVersion()
	if err != nil {
		v.Error = cli.Message(err)
		return
	}
	v.Server = sv.GitVersion
	if k, err := env.Karpenter(ctx, c); err == nil {
		v.KarpenterImage, v.KarpenterVersion, v.KarpenterNamespace = k.Image, k.Version, k.Namespace
	}
}
