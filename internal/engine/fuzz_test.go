package engine

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzZonesDown feeds --zone-down values: a zone the NodePools can launch in is taken down, any other
// is ErrUnknownZone naming the zone and the zones there are; a zone ID the account maps is taken
// down by its name.
func FuzzZonesDown(f *testing.F) {
	for _, z := range []string{"eu-west-1a", "", " eu-west-1a", "EU-WEST-1A", "eu-west-1a,eu-west-1b", "use1-az1", "\x00"} {
		f.Add(z, "eu-west-1b")
	}
	known := []string{"eu-west-1a", "eu-west-1b", "use1-az1"}
	names := map[string]string{"euw1-az3": "eu-west-1a", "use1-az1": "eu-west-1b"} // a known name wins over an ID
	resolve := func(z string) string {
		if n, ok := names[z]; ok && !slices.Contains(known, z) {
			return n
		}
		return z
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		down, err := zonesDown([]string{a, b}, known, names)
		if err != nil {
			if !errors.Is(err, ErrUnknownZone) || !strings.Contains(err.Error(), strings.Join(known, ", ")) {
				t.Fatalf("error %v", err)
			}
			return
		}
		for z := range down {
			if z != resolve(a) && z != resolve(b) {
				t.Fatalf("zone %q taken down from %q, %q", z, a, b)
			}
		}
		if !down[resolve(a)] || !down[resolve(b)] {
			t.Fatalf("%q and %q not both down: %v", a, b, down)
		}
	})
}
