package cli

import (
	"runtime/debug"
	"testing"
)

func TestBuildWithVCS(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123abc"},
		{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	for _, tc := range []struct {
		name     string
		in       BuildInfo
		settings []debug.BuildSetting
		want     BuildInfo
	}{
		{"stamped wins", BuildInfo{"v1.2.3", "fedcba9", "2026-11-30T00:00:00Z"}, vcs, BuildInfo{"v1.2.3", "fedcba9", "2026-11-30T00:00:00Z"}},
		{"go build in a modified checkout", BuildInfo{Version: "dev"}, vcs, BuildInfo{"dev", "0123abc-dirty", "2026-12-01T10:00:00Z"}},
		{"clean checkout", BuildInfo{Version: "dev"}, vcs[:3], BuildInfo{"dev", "0123abc", "2026-12-01T10:00:00Z"}},
		{"no vcs (go install from the module proxy)", BuildInfo{Version: "dev"}, nil, BuildInfo{Version: "dev"}},
	} {
		if got := tc.in.withVCS(tc.settings); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
