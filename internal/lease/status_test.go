package lease

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct{ id, host, suffix string }{
		{"karpenter-7d9f8c6b5-abcde_0f4e1c2a-1111-2222-3333-444455556666", "karpenter-7d9f8c6b5-abcde", "0f4e1c2a-1111-2222-3333-444455556666"},
		{"ip-10-0-1-2.ec2.internal_uuid", "ip-10-0-1-2.ec2.internal", "uuid"},
		{"name_with_underscores_uuid", "name_with_underscores", "uuid"},
		{"no-underscore", "no-underscore", ""},
		{"", "", ""},
	} {
		host, suffix := ParseIdentity(tc.id)
		if host != tc.host || suffix != tc.suffix {
			t.Errorf("ParseIdentity(%q) = %q, %q; want %q, %q", tc.id, host, suffix, tc.host, tc.suffix)
		}
	}
}

func leaseWith(holder string, renewAgo time.Duration, duration int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To(duration), LeaseTransitions: ptr.To[int32](3)}}
	if holder != "" {
		l.Spec.HolderIdentity = ptr.To(holder)
	}
	l.Spec.RenewTime = &metav1.MicroTime{Time: t0.Add(-renewAgo)}
	l.Spec.AcquireTime = &metav1.MicroTime{Time: t0.Add(-time.Hour)}
	return l
}

func pod(name, node string, hostNetwork bool) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: node, HostNetwork: hostNetwork},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{RestartCount: 2}}},
	}
}

func nodes() map[string]*corev1.Node {
	mk := func(name, zone string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone, corev1.LabelHostname: name}}}
	}
	return map[string]*corev1.Node{"node-a": mk("node-a", "zone-a"), "node-b": mk("node-b", "zone-b")}
}

func TestVerdictThresholds(t *testing.T) {
	pods := []corev1.Pod{pod("kp-a", "node-a", false), pod("kp-b", "node-b", false)}
	// Duration 15 s: Stale after 10 s (2/3, Karpenter's renew deadline), Expired after 15 s.
	for _, tc := range []struct {
		name     string
		lease    *coordinationv1.Lease
		disabled bool
		replicas int32
		want     Verdict
		ok       bool
	}{
		{"fresh", leaseWith("kp-a_u1", 1*time.Second, 15), false, 2, Healthy, true},
		{"just under stale", leaseWith("kp-a_u1", 10*time.Second, 15), false, 2, Healthy, true},
		{"stale", leaseWith("kp-a_u1", 10*time.Second+time.Millisecond, 15), false, 2, Stale, false},
		{"at duration still stale", leaseWith("kp-a_u1", 15*time.Second, 15), false, 2, Stale, false},
		{"expired", leaseWith("kp-a_u1", 15*time.Second+time.Millisecond, 15), false, 2, Expired, false},
		{"short lease stale", leaseWith("kp-a_u1", 1500*time.Millisecond, 2), false, 2, Stale, false},
		{"released", leaseWith("", time.Second, 15), false, 2, NoHolder, false},
		{"orphaned", leaseWith("kp-gone_u1", time.Second, 15), false, 2, Orphaned, false},
		{"orphaned and expired is expired", leaseWith("kp-gone_u1", 20*time.Second, 15), false, 2, Expired, false},
		{"missing", nil, false, 2, Missing, false},
		{"disabled one replica", nil, true, 1, Disabled, true},
		{"disabled two replicas", nil, true, 2, Disabled, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Evaluate(Input{Namespace: "karpenter", Name: "karpenter-leader-election", Lease: tc.lease, Disabled: tc.disabled, Replicas: tc.replicas, Pods: pods, Nodes: nodes(), Now: t0})
			if s.Verdict != tc.want || s.OK() != tc.ok {
				t.Fatalf("verdict %s ok=%v (%s); want %s ok=%v", s.Verdict, s.OK(), s.Reason, tc.want, tc.ok)
			}
		})
	}
}

func TestHolderAndCandidates(t *testing.T) {
	pods := []corev1.Pod{pod("kp-a", "node-a", false), pod("kp-b", "node-b", false)}
	s := Evaluate(Input{Namespace: "karpenter", Name: "l", Lease: leaseWith("kp-b_u", time.Second, 15), Replicas: 2, Pods: pods, Nodes: nodes(), Now: t0})
	if s.Holder == nil || s.Holder.Pod != "kp-b" || s.Holder.Node != "node-b" || s.Holder.Zone != "zone-b" || s.Holder.HostNetwork {
		t.Fatalf("holder = %+v", s.Holder)
	}
	if s.Candidates[0].Role != "follower" || s.Candidates[1].Role != "leader" || s.Candidates[0].Zone != "zone-a" || s.Candidates[0].Restarts != 2 || !s.Candidates[0].Ready {
		t.Fatalf("candidates = %+v", s.Candidates)
	}
	if s.Transitions != 3 || s.RenewAge.Duration() != time.Second || s.StaleAfter.Duration() != 10*time.Second {
		t.Fatalf("status = %+v", s)
	}
}

func TestHostNetworkHolder(t *testing.T) {
	// With hostNetwork the identity carries the node's hostname, not the pod name.
	pods := []corev1.Pod{pod("kp-a", "node-a", true), pod("kp-b", "node-b", true)}
	s := Evaluate(Input{Namespace: "karpenter", Name: "l", Lease: leaseWith("node-a_u", time.Second, 15), Replicas: 2, Pods: pods, Nodes: nodes(), Now: t0})
	if s.Verdict != Healthy || s.Holder.Pod != "kp-a" || !s.Holder.HostNetwork || s.Holder.Hostname != "node-a" {
		t.Fatalf("verdict %s holder %+v", s.Verdict, s.Holder)
	}
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := Percentile(ds, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %s", p)
	}
	if p := Percentile(ds, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %s", p)
	}
	if p := Percentile(ds, 100); p != 100*time.Millisecond {
		t.Errorf("max = %s", p)
	}
	if p := Percentile(nil, 50); p != 0 {
		t.Errorf("empty = %s", p)
	}
	if p := Percentile([]time.Duration{3, 1, 2}, 50); p != 2 {
		t.Errorf("unsorted p50 = %s", p)
	}
}

func rec(holder string, acquire, renew time.Time, transitions int32) *coordinationv1.Lease {
	l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](15), LeaseTransitions: ptr.To(transitions),
		AcquireTime: &metav1.MicroTime{Time: acquire}, RenewTime: &metav1.MicroTime{Time: renew}}}
	if holder != "" {
		l.Spec.HolderIdentity = ptr.To(holder)
	}
	return l
}

func TestTrackerExpiryPath(t *testing.T) {
	var tr Tracker
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr.Observe(rec("a_1", at(0), at(0), 0), at(0))
	for _, s := range []float64{2, 4, 6.5} {
		if evs := tr.Observe(rec("a_1", at(0), at(s), 0), at(s)); len(evs) != 1 || evs[0].Kind != EventRenewed {
			t.Fatalf("renewal at %v: %+v", s, evs)
		}
	}
	// a stops renewing at 6.5 s; the lease expires at 21.5 s, b acquires at 22.3 s.
	if evs := tr.Tick(at(21.4)); len(evs) != 0 {
		t.Fatalf("expired early: %+v", evs)
	}
	evs := tr.Tick(at(21.6))
	if len(evs) != 1 || evs[0].Kind != EventExpired || !evs[0].Time.Equal(at(21.5)) {
		t.Fatalf("expiry: %+v", evs)
	}
	if evs := tr.Tick(at(22)); len(evs) != 0 {
		t.Fatalf("expiry reported twice: %+v", evs)
	}
	evs = tr.Observe(rec("b_2", at(22.3), at(22.3), 1), at(22.35))
	if len(evs) != 1 || evs[0].Kind != EventAcquired || evs[0].From != "a_1" || evs[0].To != "b_2" || evs[0].Gap.Duration() != 15800*time.Millisecond {
		t.Fatalf("acquired: %+v", evs)
	}
	s := tr.Summary()
	if s.HolderChanges != 1 || s.Expiries != 1 || s.Releases != 0 || s.Renewals != 3 || s.LongestGap.Duration() != 15800*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if s.RenewP50.Duration() != 2*time.Second || s.RenewMax.Duration() != 2500*time.Millisecond || s.RenewP99.Duration() != 2500*time.Millisecond {
		t.Fatalf("renew stats p50 %s p99 %s max %s", s.RenewP50.Duration(), s.RenewP99.Duration(), s.RenewMax.Duration())
	}
}

func TestTrackerReleasePath(t *testing.T) {
	var tr Tracker
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr.Observe(rec("a_1", at(0), at(1), 0), at(1))
	// client-go's release writes an empty holder with renewTime = release time.
	evs := tr.Observe(rec("", at(3), at(3), 0), at(3))
	if len(evs) != 1 || evs[0].Kind != EventReleased || evs[0].From != "a_1" {
		t.Fatalf("release: %+v", evs)
	}
	if evs := tr.Tick(at(30)); len(evs) != 0 {
		t.Fatalf("a released lease does not expire: %+v", evs)
	}
	evs = tr.Observe(rec("b_2", at(3.4), at(3.4), 1), at(3.4))
	if len(evs) != 1 || evs[0].Kind != EventAcquired || evs[0].From != "a_1" || evs[0].Gap.Duration() != 400*time.Millisecond {
		t.Fatalf("acquire after release: %+v", evs)
	}
	if s := tr.Summary(); s.HolderChanges != 1 || s.Releases != 1 || s.Expiries != 0 {
		t.Fatalf("summary %+v", s)
	}
	// client-go renews a few ms after acquiring: counted as a renewal, not as a cycle interval.
	tr.Observe(rec("b_2", at(3.4), at(3.405), 1), at(3.405))
	tr.Observe(rec("b_2", at(3.4), at(5.405), 1), at(5.405))
	if s := tr.Summary(); s.Renewals != 2 || s.RenewP50.Duration() != 2*time.Second || s.RenewMax.Duration() != 2*time.Second {
		t.Fatalf("renewals after acquisition: %+v", s)
	}
}

func TestTrackerDirectTakeoverImpliesExpiry(t *testing.T) {
	// The new holder's update can arrive before the expiry tick: the expiry is still reported, once.
	var tr Tracker
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr.Observe(rec("a_1", at(0), at(1), 0), at(1))
	evs := tr.Observe(rec("b_2", at(16.01), at(16.01), 1), at(16.02))
	if len(evs) != 2 || evs[0].Kind != EventExpired || !evs[0].Time.Equal(at(16)) || evs[1].Kind != EventAcquired || evs[1].Gap.Duration() != 15010*time.Millisecond {
		t.Fatalf("%+v", evs)
	}
	if evs := tr.Tick(at(20)); len(evs) != 0 {
		t.Fatalf("the new holder's fresh lease is not expired: %+v", evs)
	}
	if s := tr.Summary(); s.Expiries != 1 || s.HolderChanges != 1 {
		t.Fatalf("summary %+v", s)
	}
}

func TestTrackerSameHolderReacquires(t *testing.T) {
	// A released lease taken back by the same holder is not a holder change.
	var tr Tracker
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tr.Observe(rec("a_1", at(0), at(0), 0), at(0))
	tr.Observe(rec("", at(1), at(1), 0), at(1))
	evs := tr.Observe(rec("a_1", at(2), at(2), 0), at(2))
	if len(evs) != 1 || evs[0].Kind != EventAcquired {
		t.Fatalf("%+v", evs)
	}
	if s := tr.Summary(); s.HolderChanges != 0 {
		t.Fatalf("summary %+v", s)
	}
}

// The first holder after a holderless first sight (a released or new lease) is no holder change and
// has no measured gap; the watch summary and the exporter count the same events the same way.
func TestTrackerAndExporterCountAlike(t *testing.T) {
	var tr Tracker
	var e Exporter // Observe needs no client
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	feed := func(evs []Event) {
		for _, ev := range evs {
			e.Observe(ev)
		}
	}
	feed(tr.Observe(rec("", at(0), at(0), 0), at(0)))
	feed(tr.Observe(rec("a_1", at(1), at(1), 1), at(1)))
	if s := tr.Summary(); s.HolderChanges != 0 || s.LongestGap.Duration() != 0 {
		t.Fatalf("first holder counted as a change: %+v", s)
	}
	feed(tr.Observe(rec("a_1", at(1), at(3), 1), at(3)))
	feed(tr.Tick(at(19)))
	feed(tr.Observe(rec("b_2", at(19.5), at(19.5), 2), at(19.5)))
	s := tr.Summary()
	if s.HolderChanges != 1 || s.Expiries != 1 || s.LongestGap.Duration() != 16500*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
	if got := e.tally; got.HolderChanges != s.HolderChanges || got.Releases != s.Releases || got.Expiries != s.Expiries || got.LongestGap != s.LongestGap.Duration() || got.Gaps != 1 {
		t.Fatalf("exporter %+v, watch summary %+v", got, s)
	}
}
