package lease

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// A dropped watch connection is resumed from the last resourceVersion seen, not re-listed, and no
// event is lost or repeated across the reconnect.
func TestWatchSurvivesReconnect(t *testing.T) {
	base := time.Now().Add(-time.Second).Truncate(time.Millisecond)
	lease := func(holder string, rv string, renew time.Duration, transitions int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election", ResourceVersion: rv},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To[int32](15), LeaseTransitions: ptr.To(transitions),
				AcquireTime: &metav1.MicroTime{Time: base}, RenewTime: &metav1.MicroTime{Time: base.Add(renew)}},
		}
	}
	c := fake.NewClientset(lease("a_1", "10", 0, 0))
	var mu sync.Mutex
	var watchRVs []string
	watchers := []*watch.FakeWatcher{watch.NewFake(), watch.NewFake()}
	c.PrependWatchReactor("leases", func(a k8stesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		watchRVs = append(watchRVs, a.(k8stesting.WatchActionImpl).WatchRestrictions.ResourceVersion)
		return true, watchers[len(watchRVs)-1], nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 16)
	done := make(chan Summary)
	go func() {
		sum, _ := Watch(ctx, c, "karpenter", "karpenter-leader-election", func(e Event) { events <- e })
		done <- sum
	}()
	next := func() Event {
		t.Helper()
		select {
		case e := <-events:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return Event{}
		}
	}
	if e := next(); e.Kind != EventObserved {
		t.Fatalf("first event %+v", e)
	}
	watchers[0].Modify(lease("a_1", "11", 2*time.Second, 0))
	if e := next(); e.Kind != EventRenewed {
		t.Fatalf("%+v", e)
	}
	watchers[0].Stop() // the connection drops
	waitFor := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			got := len(watchRVs)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no re-watch")
			}
		}
	}
	waitFor(2)
	watchers[1].Modify(lease("b_2", "12", 3*time.Second, 1))
	if e := next(); e.Kind != EventExpired {
		t.Fatalf("want the implied expiry first, got %+v", e)
	}
	if e := next(); e.Kind != EventAcquired || e.From != "a_1" || e.To != "b_2" {
		t.Fatalf("%+v", e)
	}
	cancel()
	sum := <-done
	mu.Lock()
	defer mu.Unlock()
	if len(watchRVs) != 2 || watchRVs[0] != "10" || watchRVs[1] != "11" {
		t.Fatalf("watches started at resourceVersions %v, want [10 11]", watchRVs)
	}
	for _, a := range c.Actions() {
		if a.GetVerb() == "list" {
			t.Fatalf("re-listed after the reconnect: %v", a)
		}
	}
	if sum.HolderChanges != 1 || sum.Renewals != 1 {
		t.Fatalf("summary %+v", sum)
	}
}

// Watching a lease that does not exist yet says so, and the summary covers the time watched.
func TestWatchMissingLease(t *testing.T) {
	c := fake.NewClientset()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var kinds []EventKind
	start := time.Now()
	sum, err := Watch(ctx, c, "karpenter", "karpenter-leader-election", func(e Event) { kinds = append(kinds, e.Kind) })
	if err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 1 || kinds[0] != EventMissing {
		t.Fatalf("events %v", kinds)
	}
	if sum.Since.Before(start) || sum.Until.Sub(sum.Since) < 250*time.Millisecond || sum.Until.Sub(sum.Since) > 5*time.Second {
		t.Fatalf("summary covers %s .. %s", sum.Since, sum.Until)
	}
}
