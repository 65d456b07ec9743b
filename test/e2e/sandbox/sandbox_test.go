// End-to-end tests of the sandbox itself against the real Karpenter v1.15.0 controller (kwok build, 2
// replicas, real leader election): the lease holder is a pod, karpctl's `lease -o json` agrees with
// the real Lease, and deleting the leader pod really kills the leader process and fails over.
package sandbox

import (
	"context"
	"os"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var sb *sandbox.Sandbox

func TestMain(m *testing.M) { os.Exit(sandbox.Main(m, sandbox.Options{}, &sb)) }

// identity is Karpenter's holder identity: os.Hostname() + "_" + a UUID.
var identity = regexp.MustCompile(`^(.+)_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// steady waits for two replicas with processes and a leader, as every test starts from.
func steady(ctx context.Context, t *testing.T) ([]sandbox.Process, *sandbox.Leader) {
	t.Helper()
	procs, err := sb.WaitForReplicas(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := sb.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return procs, ld
}

func TestLeaseHolderIsAKarpenterPod(t *testing.T) {
	sandbox.Need(t, sb)
	if sb.Runner.Isolation() == sandbox.NoIsolation {
		t.Skip("no UTS namespaces here (not root, no user namespaces): holder identities carry the machine's hostname")
	}
	ctx := e2e.Context(t, time.Minute)
	_, ld := steady(ctx, t)
	m := identity.FindStringSubmatch(ld.Identity)
	if m == nil {
		t.Fatalf("holder identity %q is not HOSTNAME_UUID", ld.Identity)
	}
	pods, err := sb.KarpenterPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == m[1] }) {
		t.Fatalf("holder hostname %q names none of the Karpenter pods %v", m[1], podNames(pods))
	}
	if ld.Process.PID == 0 || syscall.Kill(ld.Process.PID, 0) != nil {
		t.Fatalf("leader pod %s has no live process (%+v)", ld.Pod, ld.Process)
	}

	// karpctl reads the same lease and names the same pod.
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "lease", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("lease -o json: exit %d: %s", r.Code, r.Stderr)
	}
	var st lease.Status
	r.Decode(t, &st)
	real, err := sb.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Namespace != sb.Namespace || st.Name != sb.LeaseName {
		t.Errorf("lease %s/%s, want %s/%s", st.Namespace, st.Name, sb.Namespace, sb.LeaseName)
	}
	if st.HolderIdentity != *real.Spec.HolderIdentity {
		t.Errorf("holderIdentity %q, the real Lease says %q", st.HolderIdentity, *real.Spec.HolderIdentity)
	}
	if st.Holder == nil || st.Holder.Pod != ld.Pod {
		t.Errorf("holder pod %+v, want %s", st.Holder, ld.Pod)
	}
	if st.Verdict != lease.Healthy {
		t.Errorf("verdict %s (%s), want %s", st.Verdict, st.Reason, lease.Healthy)
	}
	if want := float64(*real.Spec.LeaseDurationSeconds); st.LeaseDuration.Duration().Seconds() != want {
		t.Errorf("leaseDurationSeconds %v, the real Lease says %v", st.LeaseDuration.Duration().Seconds(), want)
	}
}

// Acceptance 3: deleting the leader pod (grace 0) makes the runner SIGKILL that process; another
// replica takes the lease after it expires (v1.15.0 never releases it) — the survivor or, as in a real
// cluster, sometimes the replacement pod, which competes from its start; the ReplicaSet's new pod gets a
// new process.
func TestLeaderPodDeletionFailsOver(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 2*time.Minute)
	before, ld := steady(ctx, t)
	before1, err := sb.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s (pid %d), replicas %v", ld.Pod, ld.Process.PID, procNames(before))

	zero := int64(0)
	t0 := time.Now()
	if err := sb.Env.Client.CoreV1().Pods(sb.Namespace).Delete(ctx, ld.Pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	// The runner kills the process: SIGKILL for grace period 0.
	killed := harness.WaitFor(ctx, func() bool { return syscall.Kill(ld.Process.PID, 0) != nil })
	if !killed {
		t.Fatalf("leader process %d still alive after its pod was deleted", ld.Process.PID)
	}
	t.Logf("leader process gone after %s", time.Since(t0).Round(time.Millisecond))
	if !slices.ContainsFunc(sb.Runner.Events(), func(e sandbox.Event) bool {
		return e.PID == ld.Process.PID && e.Kind == "stopping" && regexp.MustCompile(`killed|SIGKILL`).MatchString(e.Detail)
	}) {
		t.Errorf("no SIGKILL stop event for pid %d: %+v", ld.Process.PID, sb.Runner.Events())
	}

	next, err := sb.WaitForNewLeader(ctx, ld.Identity)
	if err != nil {
		t.Fatal(err)
	}
	failover := time.Since(t0)
	t.Logf("new leader %s after %s", next.Identity, failover.Round(100*time.Millisecond))
	if next.Pod == ld.Pod {
		t.Fatalf("new leader is the deleted pod %s", ld.Pod)
	}
	// Either standby may win: the surviving replica, or the replacement pod (already running by then).
	if next.Process.PID == 0 || next.Process.PID == ld.Process.PID {
		t.Errorf("new leader %s has no process of its own (%+v)", next.Pod, next.Process)
	}
	// No release: the follower must wait for the lease to expire (15 s) plus up to a retry period (2 s).
	dur := time.Duration(*before1.Spec.LeaseDurationSeconds) * time.Second
	if failover < dur-3*time.Second || failover > dur+8*time.Second {
		t.Errorf("failover took %s; with lease duration %s and no release expected ≈ %s–%s", failover, dur, dur, dur+4*time.Second)
	}
	if got, was := *next.Lease.Spec.LeaseTransitions, *before1.Spec.LeaseTransitions; got != was+1 {
		t.Errorf("leaseTransitions %d, want %d", got, was+1)
	}

	// The Deployment replaced the pod, and the runner gave the new pod its own process.
	after, err := sb.WaitForReplicas(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	var fresh []sandbox.Process
	for _, p := range after {
		if !slices.ContainsFunc(before, func(b sandbox.Process) bool { return b.Pod == p.Pod }) {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) != 1 || fresh[0].PID == ld.Process.PID || syscall.Kill(fresh[0].PID, 0) != nil {
		t.Fatalf("want one new pod with a new live process, before %v after %v", procNames(before), procNames(after))
	}
	t.Logf("replacement pod %s runs as pid %d", fresh[0].Pod, fresh[0].PID)
}

// Evicting a follower through the Eviction API (what a drain or drill does) SIGTERMs its process and
// leaves the leader alone; the PDB allows it (maxUnavailable 1).
func TestFollowerEvictionKeepsLeader(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 2*time.Minute)
	before, ld := steady(ctx, t)
	var follower sandbox.Process
	for _, p := range before {
		if p.Pod != ld.Pod {
			follower = p
		}
	}
	if follower.PID == 0 {
		t.Fatalf("no follower among %v", procNames(before))
	}
	// The PDB controller must have counted the replicas before it allows a disruption.
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: sb.Namespace, Name: follower.Pod}}
	if !harness.WaitFor(ctx, func() bool { return sb.Env.Client.PolicyV1().Evictions(sb.Namespace).Evict(ctx, ev) == nil }) {
		t.Fatalf("eviction of %s never allowed", follower.Pod)
	}
	if !harness.WaitFor(ctx, func() bool { return syscall.Kill(follower.PID, 0) != nil }) {
		t.Fatalf("follower process %d survived its eviction", follower.PID)
	}
	if !slices.ContainsFunc(sb.Runner.Events(), func(e sandbox.Event) bool {
		return e.PID == follower.PID && e.Kind == "stopping" && regexp.MustCompile(`terminated|SIGTERM`).MatchString(e.Detail)
	}) {
		t.Errorf("no SIGTERM stop event for pid %d: %+v", follower.PID, sb.Runner.Events())
	}
	after, err := sb.WaitForReplicas(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	now, err := sb.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now.Identity != ld.Identity {
		t.Errorf("leader changed from %s to %s although only a follower was evicted", ld.Identity, now.Identity)
	}
	t.Logf("follower %s replaced: %v", follower.Pod, procNames(after))
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func procNames(ps []sandbox.Process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Pod)
	}
	return out
}
