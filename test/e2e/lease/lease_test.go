// End-to-end tests of `kubectl karpctl lease` on a real kube-apiserver, with simulated Karpenter
// replicas doing real client-go leader election (hack/replica-sim).
package lease

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Kwok: true}, &env)) }

var zonesOnce sync.Once

// zoneNodes creates one node per zone (once per package).
func zoneNodes(ctx context.Context, t *testing.T) []string {
	zonesOnce.Do(func() {
		b := harness.NewBuilder(env.Client)
		for _, z := range []string{"a", "b", "c"} {
			b.Node(ctx, t, harness.NodeSpec{Name: "system-" + z, Zone: "zone-" + z})
		}
	})
	return []string{"system-a", "system-b", "system-c"}
}

// setup creates a Karpenter Deployment with pods on nodes a and b in ns.
func setup(ctx context.Context, t *testing.T, ns string, spec harness.KarpenterSpec) []*corev1.Pod {
	nodes := zoneNodes(ctx, t)
	spec.Namespace = ns
	return harness.NewBuilder(env.Client).Karpenter(ctx, t, spec, nodes[0], nodes[1])
}

func statusOf(ctx context.Context, t *testing.T, args ...string) (lease.Status, e2e.Result) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"lease", "-o", "json"}, args...)...)
	var s lease.Status
	r.Decode(t, &s)
	return s, r
}

func getLease(ctx context.Context, t *testing.T, ns, name string) *coordinationv1.Lease {
	t.Helper()
	l, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Acceptance 1: two replicas in namespace karpenter (not kube-system).
func TestLeaseHealthyTwoReplicas(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	pods := setup(ctx, t, "karpenter", harness.KarpenterSpec{})
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: "karpenter", Pod: pods[0].Name}))
	e2e.WaitLeaseHolder(ctx, t, env, "karpenter", "karpenter-leader-election", pods[0].Name)
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: "karpenter", Pod: pods[1].Name}))

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "lease", "--karpenter-namespace", "karpenter")
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"karpenter/karpenter-leader-election", "Healthy", pods[0].Name + " on node system-a, zone zone-a", "follower", pods[1].Name, "Attempting to acquire leader lease"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	s, r := statusOf(ctx, t, "--karpenter-namespace", "karpenter")
	if r.Code != 0 || s.Verdict != lease.Healthy || s.Holder == nil || s.Holder.Pod != pods[0].Name || s.Holder.Node != "system-a" || s.Holder.Zone != "zone-a" {
		t.Fatalf("json status: exit %d %+v holder %+v", r.Code, s, s.Holder)
	}
	if len(s.Candidates) != 2 || s.Candidates[1].Role != "follower" || s.Candidates[1].Zone != "zone-b" || s.Candidates[0].Role != "leader" {
		t.Fatalf("candidates %+v", s.Candidates)
	}
	if !strings.HasPrefix(s.HolderIdentity, pods[0].Name+"_") || s.LeaseDuration.Duration() != 2*time.Second {
		t.Fatalf("identity %q duration %v", s.HolderIdentity, s.LeaseDuration)
	}
}

// Acceptance 2 and 4 (expiry path): the leader is killed without release; the verdict turns
// Stale/Expired within the lease duration, the follower takes over, and --watch reports exactly one
// holder change whose gap matches the lease timestamps within 100 ms.
func TestLeaderKilledWithoutRelease(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "kill"
	pods := setup(ctx, t, ns, harness.KarpenterSpec{})
	// The leader runs Karpenter's own timings (15 s lease, 10 s renew deadline, 2 s retry): Stale after
	// 10 s. client-go's follower counts the lease duration of the record it last saw change from when
	// it saw the change (its own LeaseDuration plays no part), and compares records at one-second
	// resolution (renewTime is marshalled in whole seconds); renewals more than a second apart each
	// change the record, so the follower takes over no earlier than 15 s after the last renewal, and
	// Stale/Expired lasts at least 5 s. The follower retries every 250 ms to take over soon after.
	const duration = 15 * time.Second
	leader := e2e.Replica(t, env, harness.ReplicaSpec{Namespace: ns, Pod: pods[0].Name})
	e2e.WaitLeaseHolder(ctx, t, env, ns, "karpenter-leader-election", pods[0].Name)
	e2e.Replica(t, env, harness.ReplicaSpec{Namespace: ns, Pod: pods[1].Name,
		LeaseDuration: duration, RenewDeadline: 10 * time.Second, RetryPeriod: 250 * time.Millisecond})
	before := getLease(ctx, t, ns, "karpenter-leader-election")

	watchCtx, stopWatch := context.WithCancel(ctx)
	watching := e2e.Start(watchCtx, env.Kubeconfig, "lease", "--watch", "-o", "json", "--karpenter-namespace", ns)
	observed := waitWatchEvent(ctx, t, watching, lease.EventObserved) // the watch is established
	// A renewal after the one the watch first saw, for the summary's renewal intervals: the watch
	// resumes from that read, so it receives every one of them (before the takeover, in order).
	renewedCtx, renewedDone := context.WithTimeout(ctx, 30*time.Second)
	if !harness.WaitFor(renewedCtx, func() bool {
		l, err := env.Client.CoordinationV1().Leases(ns).Get(renewedCtx, "karpenter-leader-election", metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime != nil && l.Spec.RenewTime.Time.Sub(observed.Time) >= 500*time.Millisecond
	}) {
		t.Fatalf("the leader did not renew after the watch observed the lease at %s", observed.Time)
	}
	renewedDone()

	leader.Kill()
	killed := time.Now()
	lastRenew := getLease(ctx, t, ns, "karpenter-leader-election").Spec.RenewTime.Time

	// Within the lease duration of the kill the verdict is Stale or Expired (or already handed over).
	sawBad := false
	for time.Since(killed) < duration+500*time.Millisecond {
		s, _ := statusOf(ctx, t, "--karpenter-namespace", ns)
		if s.Verdict == lease.Stale || s.Verdict == lease.Expired {
			sawBad = true
			if s.Holder == nil || s.Holder.Pod != pods[0].Name {
				t.Fatalf("stale verdict names the wrong holder: %+v", s.Holder)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !sawBad {
		t.Fatal("the verdict never turned Stale/Expired after the leader was killed")
	}
	after := e2e.WaitLeaseHolder(ctx, t, env, ns, "karpenter-leader-election", pods[1].Name)
	s, r := statusOf(ctx, t, "--karpenter-namespace", ns)
	if r.Code != 0 || s.Verdict != lease.Healthy || s.Holder.Pod != pods[1].Name || s.Holder.Zone != "zone-b" {
		t.Fatalf("after takeover: exit %d %s %+v", r.Code, s.Verdict, s.Holder)
	}
	if *after.Spec.LeaseTransitions <= *before.Spec.LeaseTransitions {
		t.Fatalf("leaseTransitions %d -> %d", *before.Spec.LeaseTransitions, *after.Spec.LeaseTransitions)
	}
	waitWatchEvent(ctx, t, watching, lease.EventAcquired) // the watch saw the takeover
	stopWatch()
	w := watching.Wait(t)
	changes, sum := parseWatch(t, w.Stdout)
	if len(changes) != 1 {
		t.Fatalf("want exactly one holder change, got %d: %+v", len(changes), changes)
	}
	want := after.Spec.AcquireTime.Time.Sub(lastRenew).Seconds()
	if got := changes[0].Gap.Duration().Seconds(); math.Abs(got-want) > 0.1 {
		t.Fatalf("gap %.3fs, lease timestamps say %.3fs", got, want)
	}
	if sum.HolderChanges != 1 || sum.Expiries != 1 || sum.Renewals == 0 || sum.RenewP50 <= 0 || math.Abs(sum.LongestGap.Duration().Seconds()-want) > 0.1 {
		t.Fatalf("summary %+v", sum)
	}
	t.Logf("failover gap %.3fs (lease duration %s, leader retry 2s)", want, duration)
}

// Acceptance 3 (release path): a graceful stop releases the lease; the verdict is NoHolder or the new
// holder, never Orphaned; --watch reports one holder change with a gap near the retry period.
func TestLeaderStoppedGracefully(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "graceful"
	pods := setup(ctx, t, ns, harness.KarpenterSpec{})
	leader := e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: ns, Pod: pods[0].Name}))
	e2e.WaitLeaseHolder(ctx, t, env, ns, "karpenter-leader-election", pods[0].Name)
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: ns, Pod: pods[1].Name}))

	watchCtx, stopWatch := context.WithCancel(ctx)
	watching := e2e.Start(watchCtx, env.Kubeconfig, "lease", "--watch", "-o", "json", "--karpenter-namespace", ns)
	waitWatchEvent(ctx, t, watching, lease.EventObserved) // the watch is established

	leader.Stop(5 * time.Second) // SIGTERM: release on cancel
	stopped := time.Now()
	for time.Since(stopped) < 3*time.Second {
		s, _ := statusOf(ctx, t, "--karpenter-namespace", ns)
		switch {
		case s.Verdict == lease.Orphaned:
			t.Fatalf("verdict Orphaned after a graceful stop: %s", s.Reason)
		case s.Verdict == lease.NoHolder, s.Verdict == lease.Healthy && s.Holder.Pod == pods[0].Name:
		case s.Verdict == lease.Healthy && s.Holder.Pod == pods[1].Name:
			stopped = time.Time{} // done
		default:
			t.Fatalf("unexpected verdict %s: %s", s.Verdict, s.Reason)
		}
		if stopped.IsZero() {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	e2e.WaitLeaseHolder(ctx, t, env, ns, "karpenter-leader-election", pods[1].Name)
	waitWatchEvent(ctx, t, watching, lease.EventAcquired) // the watch saw the takeover
	stopWatch()
	w := watching.Wait(t)
	changes, sum := parseWatch(t, w.Stdout)
	if len(changes) != 1 || sum.Releases != 1 || sum.Expiries != 0 {
		t.Fatalf("changes %+v summary %+v", changes, sum)
	}
	// Released: the follower notices within a retry period (250 ms) plus slack.
	if g := changes[0].Gap.Duration().Seconds(); g < 0 || g > 1.25 {
		t.Fatalf("gap after release %.3fs, want <= retry period + 1s", g)
	}
}

// waitWatchEvent waits until the running `lease --watch -o json` has printed an event of kind: for
// EventObserved, its first sight of the lease (the watch resumes from that read, so nothing after it
// is missed); for EventAcquired, a takeover from a previous holder (From set), as parseWatch counts it.
func waitWatchEvent(ctx context.Context, t *testing.T, w *e2e.Running, kind lease.EventKind) lease.Event {
	t.Helper()
	var ev lease.Event
	seen := func() bool {
		out := w.Stdout()
		// Only complete lines: the command may be mid-write.
		lines := strings.Split(out, "\n")
		for _, line := range lines[:len(lines)-1] {
			var l watchLine
			if json.Unmarshal([]byte(line), &l) != nil || l.Event == nil || l.Event.Kind != kind {
				continue
			}
			if kind != lease.EventAcquired || l.Event.From != "" {
				ev = *l.Event
				return true
			}
		}
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if !harness.WaitFor(wctx, func() bool {
		if seen() {
			return true
		}
		if code, exited := w.Exited(0); exited && !seen() { // seen again: it may have printed, then exited
			t.Fatalf("lease --watch exited %d before printing a %q event:\n%s%s", code, kind, w.Stdout(), w.Stderr())
		}
		return false
	}) {
		t.Fatalf("lease --watch printed no %q event (%v):\n%s%s", kind, wctx.Err(), w.Stdout(), w.Stderr())
	}
	return ev
}

type watchLine struct {
	Event   *lease.Event   `json:"event"`
	Summary *lease.Summary `json:"summary"`
}

func parseWatch(t *testing.T, out string) (changes []lease.Event, sum lease.Summary) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l watchLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("watch line %q: %v", sc.Text(), err)
		}
		if l.Event != nil && l.Event.Kind == lease.EventAcquired && l.Event.From != "" {
			changes = append(changes, *l.Event)
		}
		if l.Summary != nil {
			sum = *l.Summary
		}
	}
	return changes, sum
}

// Acceptance 5: disabled election, no Karpenter at all, custom lease name.
func TestDisabledMissingAndCustomName(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	setup(ctx, t, "noelection", harness.KarpenterSpec{Env: map[string]string{"DISABLE_LEADER_ELECTION": "true"}})
	s, r := statusOf(ctx, t, "--karpenter-namespace", "noelection")
	if s.Verdict != lease.Disabled || r.Code != 3 {
		t.Fatalf("disabled with 2 replicas: verdict %s exit %d", s.Verdict, r.Code)
	}

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "lease", "--karpenter-namespace", "nowhere")
	if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "app.kubernetes.io/name=karpenter") || !strings.Contains(r.Stderr, "--karpenter-namespace") {
		t.Fatalf("no Karpenter: exit %d, stderr %q", r.Code, r.Stderr)
	}

	pods := setup(ctx, t, "custom", harness.KarpenterSpec{Env: map[string]string{"LEADER_ELECTION_NAME": "my-lease", "LEADER_ELECTION_NAMESPACE": "custom-leases"}})
	harness.NewBuilder(env.Client).Namespace(ctx, t, "custom-leases")
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: "custom-leases", Lease: "my-lease", Pod: pods[1].Name}))
	e2e.WaitLeaseHolder(ctx, t, env, "custom-leases", "my-lease", pods[1].Name)
	s, r = statusOf(ctx, t, "--karpenter-namespace", "custom")
	if r.Code != 0 || s.Namespace != "custom-leases" || s.Name != "my-lease" || s.Holder.Pod != pods[1].Name {
		t.Fatalf("custom lease: exit %d %s/%s holder %+v", r.Code, s.Namespace, s.Name, s.Holder)
	}
	// --lease overrides what the Deployment says.
	s, r = statusOf(ctx, t, "--karpenter-namespace", "custom", "--lease", "custom-leases/other")
	if r.Code != 3 || s.Verdict != lease.Missing || s.Name != "other" {
		t.Fatalf("--lease override: exit %d %s %s", r.Code, s.Verdict, s.Name)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "lease", "--lease", "no-slash")
	if r.Code != 2 || !strings.Contains(r.Stderr, "NAMESPACE/NAME") {
		t.Fatalf("bad --lease: exit %d %q", r.Code, r.Stderr)
	}
}

// Acceptance 6: an identity that may not get leases gets one line naming the permission.
func TestForbiddenLease(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	setup(ctx, t, "rbac", harness.KarpenterSpec{})
	kc, err := env.RestrictedKubeconfig(ctx, "no-leases",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list", "get"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"list", "get"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, kc, "lease", "--karpenter-namespace", "rbac")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if r.Code != 1 || len(lines) != 1 || !strings.Contains(lines[0], `cannot get resource "leases" in API group "coordination.k8s.io"`) {
		t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// Acceptance 7: at most 5 requests with 2 replicas, whatever the cluster size (500 unrelated pods,
// 200 nodes).
func TestRequestCountOnLargeCluster(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	pods := setup(ctx, t, "big", harness.KarpenterSpec{})
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: "big", Pod: pods[0].Name}))
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, "workload")
	createAll(t, 200, func(i int) error {
		_, err := b.CreateNode(ctx, harness.NodeSpec{Name: fmt.Sprintf("worker-%03d", i), Zone: fmt.Sprintf("zone-%c", 'a'+i%3), NotKwok: true})
		return err
	})
	createAll(t, 500, func(i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "workload", Name: fmt.Sprintf("app-%03d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: fmt.Sprintf("worker-%03d", i%200), Containers: []corev1.Container{{Name: "c", Image: "pause"}}}}
		_, err := env.Client.CoreV1().Pods("workload").Create(ctx, p, metav1.CreateOptions{})
		return err
	})
	e2e.WaitLeaseHolder(ctx, t, env, "big", "karpenter-leader-election", pods[0].Name)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "lease", "--karpenter-namespace", "big")
	if r.Code != 0 {
		t.Fatalf("exit %d %s", r.Code, r.Stderr)
	}
	if len(r.Requests) > 5 {
		t.Fatalf("%d requests, want <= 5:\n%s", len(r.Requests), strings.Join(r.Requests, "\n"))
	}
	for _, q := range r.Requests {
		if strings.Contains(q, "/pods?") && !strings.Contains(q, "labelSelector=") {
			t.Fatalf("unselected pod list: %s", q)
		}
		if strings.HasSuffix(strings.SplitN(q, "?", 2)[0], "/nodes") {
			t.Fatalf("node list: %s", q)
		}
	}
	t.Logf("requests: %s", strings.Join(r.Requests, ", "))
}

func createAll(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	if err := harness.Parallel(n, 16, f); err != nil {
		t.Fatal(err)
	}
}
