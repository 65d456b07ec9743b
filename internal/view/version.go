package view

import (
	"cmp"
	"fmt"
	"io"

	"github.com/karpctl/karpctl/internal/discovery"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/versions"
)

// Version prints karpctl's versions and, unless clientOnly, the cluster's.
func Version(w io.Writer, s output.Styles, v versions.Info, clientOnly bool) error {
	pairs := [][2]string{{"karpctl", v.Karpctl}, {"Commit", v.Commit + " (" + v.CommitDate + ")"},
		{"Engine", v.Engine}, {"Go", v.GoVersion + " " + v.Platform},
		{"AWS provider", v.AWSData.Provider},
		{"AWS data", awsDataLine(v.AWSData)}}
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
	return output.KV(w, s, pairs)
}

// awsDataLine dates the EC2 facts and each kind of price, and says which prices are estimates.
func awsDataLine(d engine.AWSData) string {
	return fmt.Sprintf("EC2 facts of %s; on-demand prices of %s (us-east-1) and %s (other regions, some estimated); spot prices estimated (%s)",
		d.Generated.Format("2006-01-02"), d.USEast1PricesOf, d.PricesOf, d.PricesOf)
}

// VersionFleet is `version --contexts`: the server, Karpenter's image version and whether it is the
// bundled engine's, per context; wide adds Karpenter's namespace and image.
func VersionFleet(w io.Writer, s output.Styles, outs []fleet.Outcome[versions.Info], wide bool) error {
	cols := fleetColumns{ok: "answered", headers: []string{"SERVER", "KARPENTER", "ENGINE"}, wideHeaders: []string{"NAMESPACE", "IMAGE"}}
	bundled := cli.EngineVersion()
	return fleetTable(w, s, outs, cols, wide, func(v versions.Info) ([]string, []string) {
		karpenter, engine := "not found", "-"
		if v.KarpenterImage != "" {
			karpenter = cmp.Or(v.KarpenterVersion, "-")
			switch match, known := discovery.VersionsMatch(v.KarpenterVersion, bundled); {
			case !known:
				engine = "unknown (bundled " + bundled + ")"
			case match:
				engine = s.OK.Render("matches " + bundled)
			default:
				engine = s.Warn.Render("differs (bundled " + bundled + ")")
			}
		}
		return []string{v.Server, karpenter, engine}, []string{cmp.Or(v.KarpenterNamespace, "-"), cmp.Or(v.KarpenterImage, "-")}
	})
}
