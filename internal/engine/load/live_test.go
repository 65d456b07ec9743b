package load

import "testing"

func TestVersionSkew(t *testing.T) {
	for _, tc := range []struct {
		cluster, bundled string
		warn             bool
	}{
		{"1.15.0", "v1.15.0", false},
		{"v1.15.0", "v1.15.0", false},
		{"1.14.2", "v1.15.0", true},
		{"", "v1.15.0", false},
		{"1.14.2", "unknown", false},
	} {
		if got := VersionSkew(tc.cluster, tc.bundled); (got != "") != tc.warn {
			t.Errorf("VersionSkew(%q, %q) = %q", tc.cluster, tc.bundled, got)
		}
	}
}
