package drill

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzLockGate judges drill locks whatever their holder, creation and acquire times (in the future,
// missing, far past): a lock always blocks the drill unless it is stale and --force is given, and
// the message names the lock and how to clean up after a drill that was killed.
func FuzzLockGate(f *testing.F) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixNano()
	f.Add("zone-outage-20261127-095900-ab12", now-int64(time.Minute), now-int64(time.Minute), true, false)
	f.Add("", now+int64(time.Hour), int64(0), false, true)
	f.Add("x", int64(-1)<<62, int64(1)<<62, true, true)
	f.Fuzz(func(t *testing.T, holder string, created, acquired int64, hasAcquire, force bool) {
		lock := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LockName, CreationTimestamp: metav1.Time{Time: time.Unix(0, created)}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder}}
		if hasAcquire {
			lock.Spec.AcquireTime = &metav1.MicroTime{Time: time.Unix(0, acquired)}
		}
		o := Options{Force: force, Timeout: 10 * time.Minute, Now: func() time.Time { return time.Unix(0, now) }}
		g := lockGate(lock, "karpenter", o)
		if g.Passed || g.Message == "" || !strings.Contains(g.Message, "drill restore") {
			t.Fatalf("gate %+v", g)
		}
		if g.Forced && !g.Overridable {
			t.Fatalf("forced a gate that cannot be: %+v", g)
		}
	})
}
