package cli

import "runtime/debug"

// Version is karpctl's own version, set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// EngineModule is the Karpenter module whose scheduler karpctl bundles.
const EngineModule = "sigs.k8s.io/karpenter"

// EngineVersion reads the bundled Karpenter version from the binary's build info.
func EngineVersion() string {
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
}
