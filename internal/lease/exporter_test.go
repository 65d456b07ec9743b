package lease

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/units"
)

func TestExporterReportsLeaseAndWatchedGaps(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id, dur, tr := "karpenter-7d9f8c6b5-axqzk_1b2c", int32(15), int32(4)
	c := fake.NewClientset(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, LeaseTransitions: &tr,
			RenewTime: &metav1.MicroTime{Time: now.Add(-12 * time.Second)}},
	})
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "karpenter-leader-election"}
	e := NewExporter(c, k, func() time.Time { return now })
	e.Observe(Event{Kind: EventObserved, To: "a_1"})
	e.Observe(Event{Kind: EventAcquired, From: "a_1", To: "b_2", Gap: units.Seconds(17 * time.Second)})
	e.Observe(Event{Kind: EventAcquired, From: "b_2", To: "a_3", Gap: units.Seconds(2 * time.Second)})
	e.Observe(Event{Kind: EventReleased, From: "a_3"})
	e.Observe(Event{Kind: EventAcquired, From: "a_3", To: "a_3", Gap: units.Seconds(time.Second)})

	got := gather(t, e)
	for key, v := range map[string]float64{
		"karpctl_lease_up":                   1,
		"karpctl_lease_renew_age_seconds":    12,
		"karpctl_lease_duration_seconds":     15,
		"karpctl_lease_transitions":          4,
		"karpctl_lease_holder_changes_total": 2, // a→b, b→a; a re-taking its own released lease is no change
		"karpctl_lease_releases_total":       1,
		"karpctl_lease_last_gap_seconds":     1,
		"karpctl_lease_longest_gap_seconds":  17,
		// No Karpenter pods: the holder resolves to no pod and the verdict is Orphaned.
		"karpctl_lease_holder_info,holder=karpenter-7d9f8c6b5-axqzk_1b2c,node=,pod=,zone=": 1,
		"karpctl_lease_verdict,verdict=Orphaned":                                           1,
		"karpctl_lease_verdict,verdict=Healthy":                                            0,
		"karpctl_lease_api_silent_seconds":                                                 0,
	} {
		if g, ok := got[key]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", key, g, ok, v)
		}
	}
}

// While the watch reports the API server silent, a scrape answers at once with up 0 and the silence's
// length, and leaves the lease's state out: it is unknown, not stale. When it answers again, the
// scrape reads the lease as before.
func TestExporterWhileTheAPIServerIsSilent(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	c := fake.NewClientset()
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "karpenter-leader-election"}
	e := NewExporter(c, k, func() time.Time { return now })
	e.Observe(Event{Kind: EventSilent, Time: now.Add(-2 * time.Second), Silence: units.Seconds(10 * time.Second)})
	got := gather(t, e)
	if got["karpctl_lease_up"] != 0 || got["karpctl_lease_api_silent_seconds"] != 12 {
		t.Fatalf("silent: %v", got)
	}
	if _, ok := got["karpctl_lease_verdict,verdict=Missing"]; ok {
		t.Fatalf("a verdict while the API server is silent: %v", got)
	}
	for _, a := range c.Actions() {
		t.Fatalf("a scrape while silent sent %v", a)
	}
	e.Observe(Event{Kind: EventResumed, Time: now})
	got = gather(t, e)
	if got["karpctl_lease_up"] != 1 || got["karpctl_lease_api_silent_seconds"] != 0 || got["karpctl_lease_verdict,verdict=Missing"] != 1 {
		t.Fatalf("after the silence: %v", got)
	}
}

func gather(t *testing.T, e *Exporter) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "lease" && l.GetName() != "lease_namespace" {
					key += "," + l.GetName() + "=" + l.GetValue()
				}
				if l.GetName() == "lease" && l.GetValue() != "karpenter-leader-election" {
					t.Errorf("%s: lease label %q", mf.GetName(), l.GetValue())
				}
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return got
}
