package cli

import (
	"runtime/debug"
	"sync"

	"github.com/karpctl/karpctl/internal/buildinfo"
)

// Version, Commit and Date describe karpctl's own build: Date is the commit's time, not the build's,
// so that one commit always builds the same bytes (and the same release checksums). Release builds
// (GoReleaser, `make build`) set them with -ldflags "-X github.com/karpctl/karpctl/internal/cli.Version=v1.2.3
// -X ...cli.Commit=<sha> -X ...cli.Date=2026-12-01T10:00:00Z"; a plain `go build` or `go install`
// leaves Commit and Date empty, and Build falls back to what the go command recorded from git.
var (
	Version = "dev"
	Commit  = ""
	Date    = ""
)

// BuildInfo is karpctl's own build: version, the commit it was built from and the commit's time.
type BuildInfo struct {
	Version string
	Commit  string
	Date    string
}

// Build is the stamped version, commit and date, falling back to the go command's vcs.revision and
// vcs.time (with "-dirty" for a modified tree) when the build did not stamp them; "unknown" when
// neither knows.
var Build = sync.OnceValue(func() BuildInfo {
	b := BuildInfo{Version: Version, Commit: Commit, Date: Date}
	if bi, ok := debug.ReadBuildInfo(); ok {
		b = b.withVCS(bi.Settings)
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
})

func (b BuildInfo) withVCS(settings []debug.BuildSetting) BuildInfo {
	var rev, at string
	modified := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if b.Commit == "" && rev != "" {
		b.Commit = rev
		if modified {
			b.Commit += "-dirty"
		}
	}
	if b.Date == "" {
		b.Date = at
	}
	return b
}

// EngineModule is the Karpenter module whose scheduler karpctl bundles.
const EngineModule = "sigs.k8s.io/karpenter"

// EngineVersion is the bundled Karpenter version, from the binary's build info.
func EngineVersion() string { return buildinfo.ModuleVersion(EngineModule) }

// Engine names the bundled scheduler as version and plan print it: module and version.
func Engine() string { return EngineModule + " " + EngineVersion() }
