package engine

import (
	"errors"
	"strings"
	"testing"
)

// FuzzZonesDown feeds --zone-down values: a zone the NodePools can launch in is taken down, any other
// is ErrUnknownZone naming the zone and the zones there are.
func FuzzZonesDown(f *testing.F) {
	for _, z := range []string{"eu-west-1a", "", " eu-west-1a", "EU-WEST-1A", "eu-west-1a,eu-west-1b", "use1-az1", "\x00"} {
		f.Add(z, "eu-west-1b")
	}
	known := []string{"eu-west-1a", "eu-west-1b", "use1-az1"}
	f.Fuzz(func(t *testing.T, a, b string) {
		down, err := zonesDown([]string{a, b}, known)
		if err != nil {
			if !errors.Is(err, ErrUnknownZone) || !strings.Contains(err.Error(), strings.Join(known, ", ")) {
				t.Fatalf("error %v", err)
			}
			return
		}
		for z := range down {
			if z != a && z != b {
				t.Fatalf("zone %q taken down from %q, %q", z, a, b)
			}
		}
		if !down[a] || !down[b] {
			t.Fatalf("%q and %q not both down: %v", a, b, down)
		}
	})
}
