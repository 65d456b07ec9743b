package engine

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A zone taken down leaves neither offerings nor the zone in the instance types' requirements; the
// originals are untouched.
func TestWithoutZones(t *testing.T) {
	its := kwok(t).KarpenterInstanceTypes()
	left := withoutZones(its, map[string]bool{"test-zone-a": true})
	if len(left) != len(its) {
		t.Fatalf("%d types left of %d", len(left), len(its))
	}
	if got := strings.Join(offeredZones(left), ","); got != "test-zone-b,test-zone-c,test-zone-d" {
		t.Errorf("zones left %s", got)
	}
	if z := left[0].Requirements.Get(corev1.LabelTopologyZone); z.Has("test-zone-a") || !z.Has("test-zone-b") {
		t.Errorf("zone requirement %s", z)
	}
	if len(offeredZones(its)) != 4 || !its[0].Requirements.Get(corev1.LabelTopologyZone).Has("test-zone-a") {
		t.Error("withoutZones modified its input")
	}
	if got := withoutZones(its, map[string]bool{"test-zone-a": true, "test-zone-b": true, "test-zone-c": true, "test-zone-d": true}); len(got) != 0 {
		t.Errorf("%d types left with every zone down", len(got))
	}
}
