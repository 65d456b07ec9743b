package lease

import (
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzEvaluate judges leases whatever a writer put in them: any holder identity, renew and acquire
// times in any order (or in the future), any duration and transition count, holders naming a pod, a
// node or nothing. The verdict is always one of Verdicts with a reason, and the figures are the
// lease's own.
func FuzzEvaluate(f *testing.F) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixNano()
	f.Add("karpenter-7d9f8c6b5-axqzk_1b2c", now-int64(3*time.Second), now-int64(time.Hour), int32(15), int32(4), "karpenter-7d9f8c6b5-axqzk", false, true)
	f.Add("node-a_x", now-int64(12*time.Second), now, int32(0), int32(-1), "karpenter-1", true, true)
	f.Add("", now+int64(time.Hour), int64(0), int32(-5), int32(0), "", false, false)
	f.Add("_", int64(-1)<<62, int64(1)<<62, int32(1)<<30, int32(2147483647), "_", true, true)
	f.Fuzz(func(t *testing.T, holder string, renew, acquire int64, duration, transitions int32, pod string, hostNetwork, hasLease bool) {
		in := Input{Namespace: "karpenter", Name: "karpenter-leader-election", Now: time.Unix(0, now).UTC(), Replicas: 2}
		if hasLease {
			l := &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &duration, LeaseTransitions: &transitions,
				RenewTime: &metav1.MicroTime{Time: time.Unix(0, renew)}, AcquireTime: &metav1.MicroTime{Time: time.Unix(0, acquire)}}}
			in.Lease = l
		}
		if pod != "" {
			in.Pods = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: pod}, Spec: corev1.PodSpec{NodeName: "node-a", HostNetwork: hostNetwork}}}
			in.Nodes = map[string]*corev1.Node{"node-a": {ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{ZoneLabel: "zone-a"}}}}
		}
		s := Evaluate(in)
		if !slices.Contains(Verdicts, s.Verdict) || s.Reason == "" {
			t.Fatalf("verdict %q reason %q", s.Verdict, s.Reason)
		}
		if s.LeaseDuration.Duration() <= 0 || s.StaleAfter.Duration() <= 0 || s.StaleAfter.Duration() > s.LeaseDuration.Duration() {
			t.Fatalf("duration %v stale after %v", s.LeaseDuration, s.StaleAfter)
		}
		if !hasLease {
			if s.Verdict != Missing {
				t.Fatalf("no lease judged %s", s.Verdict)
			}
			return
		}
		if s.HolderIdentity != holder || s.Transitions != transitions {
			t.Fatalf("holder %q transitions %d, the lease says %q and %d", s.HolderIdentity, s.Transitions, holder, transitions)
		}
		if s.Verdict == Healthy && (s.Holder == nil || s.Holder.Pod == "" || s.RenewAge.Duration() > s.StaleAfter.Duration()) {
			t.Fatalf("Healthy with holder %+v renew age %v", s.Holder, s.RenewAge)
		}
		host, suffix := ParseIdentity(holder)
		if joined := host + "_" + suffix; (strings.Contains(holder, "_") && joined != holder) || (!strings.Contains(holder, "_") && (host != holder || suffix != "")) || strings.Contains(suffix, "_") {
			t.Fatalf("ParseIdentity(%q) = %q, %q", holder, host, suffix)
		}
	})
}
