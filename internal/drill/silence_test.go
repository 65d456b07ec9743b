package drill

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"

	"github.com/karpctl/karpctl/internal/discovery"
)

// The leader is killed and then the API server stops answering: the lease watch is quiet past the
// lease's expiry, but a read of the lease fails, so the drill reports the API server silent — not the
// lease expired — and says how long in its report.
func TestRunTellsAPISilenceFromAnExpiredLease(t *testing.T) {
	f, p, c := drillOf(t, newScenario(), Options{Kind: LeaderKill, Mode: Hard, Timeout: 500 * time.Millisecond})
	f.onAction = func(pod string) {
		old := f.pod(pod)
		f.podEvent(watch.Deleted, old)
		f.inject("Lease "+discovery.DefaultLeaseName, errors.New("context deadline exceeded"), errors.New("context deadline exceeded"))
		c.Step(30 * time.Second) // twice the lease's 15 s: past its expiry
	}
	r, err := Run(context.Background(), f, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := kindsOf(r)
	if slices.Contains(kinds, EvExpired) || !slices.Contains(kinds, EvAPISilent) || r.APISilenceSeconds < 10 {
		t.Fatalf("timeline %v, API silence %.1fs; want api-silent and no lease-expired", kinds, r.APISilenceSeconds)
	}
	for _, e := range r.Timeline {
		if e.Kind == EvAPISilent && !strings.Contains(e.Detail, "unknown, not expired") {
			t.Errorf("api-silent says %q", e.Detail)
		}
	}
}

// The same quiet watch with an API server that answers: the read shows the lease unrenewed, and the
// expiry is reported.
func TestRunReportsTheExpiryTheReadConfirms(t *testing.T) {
	f, p, c := drillOf(t, newScenario(), Options{Kind: LeaderKill, Mode: Hard, Timeout: 500 * time.Millisecond})
	f.onAction = func(pod string) {
		f.podEvent(watch.Deleted, f.pod(pod))
		c.Step(30 * time.Second)
	}
	r, err := Run(context.Background(), f, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kinds := kindsOf(r); !slices.Contains(kinds, EvExpired) || slices.Contains(kinds, EvAPISilent) || r.APISilenceSeconds != 0 {
		t.Fatalf("timeline %v, API silence %.1fs; want lease-expired and no silence", kinds, r.APISilenceSeconds)
	}
}
