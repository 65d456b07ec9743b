package cli

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Version is karpctl's own version, set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// EngineModule is the Karpenter module whose scheduler karpctl bundles.
const EngineModule = "sigs.k8s.io/karpenter"

// EngineVersion is the bundled Karpenter version from the binary's build info, read once.
var EngineVersion = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == EngineModule {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
})

// Engine names the bundled scheduler as version and plan print it: module and version.
func Engine() string { return EngineModule + " " + EngineVersion() }

// VersionsMatch compares a cluster's Karpenter version with the bundled scheduler's, ignoring a
// leading v; known is false when either is unknown.
func VersionsMatch(cluster, bundled string) (match, known bool) {
	c, b := strings.TrimPrefix(cluster, "v"), strings.TrimPrefix(bundled, "v")
	if c == "" || b == "" || b == "unknown" {
		return false, false
	}
	return c == b, true
}
