// End-to-end tests of `kubectl karpctl drill` on a real kube-apiserver with kube-controller-manager,
// kube-scheduler and kwok, and simulated Karpenter replicas doing real client-go leader election.
package drill

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

const leaseName = "karpenter-leader-election"

// karpctlEnv makes the test binary karpctl itself (commands.Main, as cmd/karpctl runs it) instead of
// running tests: the tests that need a separate process (signals, a terminal) re-execute themselves.
const karpctlEnv = "KARPCTL_E2E_RUN_KARPCTL"

func TestMain(m *testing.M) {
	if os.Getenv(karpctlEnv) != "" {
		os.Exit(commands.Main(append([]string{"kubectl-karpctl"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	// Every drill appends to the history file: keep it in the test's own state dir (subprocesses inherit it).
	dir, err := os.MkdirTemp("", "karpctl-drill-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := harness.Main(m, harness.Options{Kwok: true, ControllerManager: true, Scheduler: true}, &env)
	os.RemoveAll(dir)
	os.Exit(code)
}

var nodesOnce sync.Once

// nodes: two per zone in zones a, b, c, roomy enough for every test's replicas.
func nodes(ctx context.Context, t *testing.T) {
	nodesOnce.Do(func() {
		b := harness.NewBuilder(env.Client)
		for _, z := range []string{"a", "b", "c"} {
			for i := 1; i <= 2; i++ {
				b.Node(ctx, t, harness.NodeSpec{Name: fmt.Sprintf("sys-%s%d", z, i), Zone: "zone-" + z, CPU: "32", Memory: "128Gi"})
			}
		}
	})
}

// karpenter creates a chart-like Deployment (and optionally its PDB) in ns, runs the simulators and
// waits until the Deployment is fully Ready and a replica holds the lease. Each edit changes the
// Deployment before it is created.
func karpenter(ctx context.Context, t *testing.T, ns string, replicas int32, pdb bool, noRelease bool, edits ...func(*appsv1.Deployment)) *sims {
	t.Helper()
	nodes(ctx, t)
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, ns)
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns, Replicas: replicas})
	for _, edit := range edits {
		edit(d)
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pdb {
		if _, err := env.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, harness.KarpenterPDB(ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	s := startSims(ctx, t, ns, noRelease)
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	waitSettled(ctx, t, ns, replicas)
	return s
}

// waitSettled waits for replicas Ready pods (none terminating), a fresh lease held by one of them, and
// (when a PDB exists) its status computed.
func waitSettled(ctx context.Context, t *testing.T, ns string, replicas int32) {
	t.Helper()
	var state string // what was seen last, for the failure
	err := harness.Poll(ctx, 100*time.Millisecond, "karpenter in "+ns+" to settle", func() (bool, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "karpenter", metav1.GetOptions{})
		l, lerr := env.Client.CoordinationV1().Leases(ns).Get(ctx, leaseName, metav1.GetOptions{})
		var status appsv1.DeploymentStatus
		if err == nil {
			status = d.Status
		}
		state = fmt.Sprintf("deployment %v %v, lease %v", status, err, lerr)
		ok := err == nil && lerr == nil && d.Status.ReadyReplicas == replicas && d.Status.Replicas == replicas &&
			l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" && l.Spec.RenewTime != nil && time.Since(l.Spec.RenewTime.Time) < time.Second
		if ok {
			pdbs, _ := env.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
			for _, p := range pdbs.Items {
				ok = ok && p.Status.ObservedGeneration == p.Generation && p.Status.CurrentHealthy == replicas
			}
		}
		return ok, nil
	})
	if err != nil {
		t.Fatalf("karpenter in %s never settled: %s (%v)", ns, state, err)
	}
}

func holder(ctx context.Context, t *testing.T, ns string) (identity, pod string) {
	t.Helper()
	l, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		t.Fatalf("lease %s/%s has no holder", ns, leaseName)
	}
	identity = *l.Spec.HolderIdentity
	pod, _ = lease.ParseIdentity(identity)
	return identity, pod
}

func readReport(t *testing.T, path string) drill.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r drill.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func kinds(r drill.Report) []string {
	var out []string
	for _, e := range r.Timeline {
		out = append(out, e.Kind)
	}
	return out
}

func requireKinds(t *testing.T, r drill.Report, want ...string) {
	t.Helper()
	have := strings.Join(kinds(r), " ")
	for _, w := range want {
		if !strings.Contains(" "+have+" ", " "+w+" ") {
			t.Errorf("timeline lacks %s: %s", w, have)
		}
	}
}

// checkFailoverAgainstLease: the reported failover equals the new holder's acquireTime (read from
// the Lease now) minus the action time, within 100 ms.
func checkFailoverAgainstLease(ctx context.Context, t *testing.T, ns string, r drill.Report) {
	t.Helper()
	l, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *l.Spec.HolderIdentity != r.NewLeader {
		t.Fatalf("lease holder %s, report says %s", *l.Spec.HolderIdentity, r.NewLeader)
	}
	want := l.Spec.AcquireTime.Time.Sub(r.ActionTime).Seconds()
	if math.Abs(want-r.FailoverSeconds) > 0.1 {
		t.Fatalf("failover %.3fs, lease acquireTime − action time = %.3fs", r.FailoverSeconds, want)
	}
}

func lockGone(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	if _, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, drill.LockName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("drill lock still there (%v)", err)
	}
}

// Acceptance 2: the simulator releases on SIGTERM: eviction → path released, failover within the
// retry period + 1 s, the timeline complete, the replacement Running.
func TestLeaderKillReleased(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-released"
	karpenter(ctx, t, ns, 2, true, false)
	oldID, oldPod := holder(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Released || rep.OldLeader != oldPod || rep.NewLeader == oldID {
		t.Fatalf("report %+v", rep)
	}
	if rep.FailoverSeconds <= 0 || rep.FailoverSeconds > 0.25+1 {
		t.Fatalf("failover %.3fs, want ≤ retry 250ms + 1s", rep.FailoverSeconds)
	}
	requireKinds(t, rep, drill.EvLock, drill.EvEvicted, drill.EvTerminating, drill.EvReleased, drill.EvAcquired, drill.EvScheduled, drill.EvReady, drill.EvAllReady, drill.EvLockReleased)
	checkFailoverAgainstLease(ctx, t, ns, rep)
	lockGone(ctx, t, ns)
	for _, w := range []string{"PASS", "Path:", "released", "Failover:"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	// The replacement pod is Running.
	pods, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	running := 0
	for _, p := range pods.Items {
		if p.Name == oldPod {
			continue
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running++
		}
	}
	if running != 2 {
		t.Fatalf("%d Running pods besides the old leader", running)
	}
	t.Logf("released path: failover %.3fs, leader gap %.3fs", rep.FailoverSeconds, rep.LeaderGapSeconds)
}

// Acceptance 2: --mode hard deletes with grace 0 (the simulator is SIGKILLed): path expired, within
// lease duration + 2 × retry + slack, the report explains.
func TestLeaderKillHard(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-hard"
	karpenter(ctx, t, ns, 2, true, false)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--mode", "hard", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Expired || rep.FailoverSeconds > 2+0.5+1 || rep.FailoverSeconds < 0.5 {
		t.Fatalf("report %+v", rep)
	}
	requireKinds(t, rep, drill.EvDeleted, drill.EvExpired, drill.EvAcquired, drill.EvReady, drill.EvAllReady)
	if len(rep.Explanation) == 0 || !strings.Contains(rep.Explanation[0], "grace period 0") {
		t.Fatalf("explanation %q", rep.Explanation)
	}
	checkFailoverAgainstLease(ctx, t, ns, rep)
	lockGone(ctx, t, ns)
	t.Logf("hard path: failover %.3fs, leader gap %.3fs", rep.FailoverSeconds, rep.LeaderGapSeconds)
}

// Acceptance 2 (the v1.15.0 behaviour on the simulator): replicas that never release → an eviction
// takes the expired path and the report says the controller did not release on shutdown.
func TestLeaderKillNoRelease(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-norelease"
	karpenter(ctx, t, ns, 2, true, true)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Expired {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Explanation) == 0 || !strings.Contains(rep.Explanation[0], "did not release the lease on shutdown") || !strings.Contains(r.Stdout, "Karpenter v1.15.0 never releases") {
		t.Fatalf("explanation %q", rep.Explanation)
	}
	checkFailoverAgainstLease(ctx, t, ns, rep)
}

// snapshot is the resourceVersions of everything a drill could change (the election Lease excepted:
// its holder renews it constantly).
func snapshot(ctx context.Context, t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		out["pod/"+p.Name] = p.ResourceVersion
	}
	nodes, _ := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for _, n := range nodes.Items {
		out["node/"+n.Name] = fmt.Sprintf("%t/%s", n.Spec.Unschedulable, n.Labels[drill.CordonLabel])
	}
	d, _ := env.Client.AppsV1().Deployments(ns).Get(ctx, "karpenter", metav1.GetOptions{})
	out["deployment"] = d.ResourceVersion
	pdbs, _ := env.Client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pdbs.Items {
		out["pdb/"+p.Name] = fmt.Sprint(p.Spec.MaxUnavailable)
	}
	leases, _ := env.Client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
	for _, l := range leases.Items {
		if l.Name != leaseName {
			out["lease/"+l.Name] = l.ResourceVersion
		}
	}
	return out
}

func sameSnapshot(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %s -> %s", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}

// Acceptance 3: refusals leave the cluster unchanged.
func TestPreflightRefusals(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 4*time.Minute)
	refuse := func(t *testing.T, ns string, wantCode int, want string, args ...string) {
		t.Helper()
		before := snapshot(ctx, t, ns)
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"drill", "leader-kill", "--karpenter-namespace", ns, "--retry-period", "250ms"}, args...)...)
		if r.Code != wantCode || !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Fatalf("exit %d, want %d with %q:\n%s%s", r.Code, wantCode, want, r.Stdout, r.Stderr)
		}
		time.Sleep(300 * time.Millisecond) // anything the drill had started would show by now
		sameSnapshot(t, before, snapshot(ctx, t, ns))
	}
	t.Run("one ready replica", func(t *testing.T) {
		karpenter(ctx, t, "pf-one", 1, false, false)
		refuse(t, "pf-one", 3, "gate ready-replicas: 1 ready replica(s)", "--yes")
	})
	t.Run("maxUnavailable 0", func(t *testing.T) {
		const ns = "pf-pdb"
		karpenter(ctx, t, ns, 2, false, false)
		zero := intstr.FromInt32(0)
		pdb := harness.KarpenterPDB(ns)
		pdb.Spec.MaxUnavailable = &zero
		if _, err := env.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSettled(ctx, t, ns, 2)
		refuse(t, ns, 3, "PodDisruptionBudget karpenter allows 0 disruption(s)", "--yes")
		// --force does not override it.
		refuse(t, ns, 3, "PodDisruptionBudget karpenter allows 0", "--yes", "--force")
	})
	t.Run("no TTY without --yes", func(t *testing.T) {
		const ns = "pf-tty"
		karpenter(ctx, t, ns, 2, true, false)
		refuse(t, ns, 2, "standard input is not a terminal; pass --yes")
		// --dry-run prints the plan and changes nothing either.
		refuse(t, ns, 0, "Dry run: nothing was changed", "--dry-run")
	})
	t.Run("stale lease", func(t *testing.T) {
		const ns = "pf-stale"
		s := karpenter(ctx, t, ns, 2, true, false)
		s.killAll()
		time.Sleep(2500 * time.Millisecond) // past the 2 s lease duration
		refuse(t, ns, 3, "gate lease: "+ns+"/"+leaseName+" is Expired", "--yes")
	})
	t.Run("probe without a NodePool", func(t *testing.T) {
		const ns = "pf-probe"
		karpenter(ctx, t, ns, 2, true, false)
		refuse(t, ns, 3, "gate probe: no NodePool the probe can use: no usable NodePool: the cluster has no NodePools", "--yes", "--probe")
		refuse(t, ns, 2, "--probe-requests needs --probe", "--yes", "--probe-requests", "cpu=1")
		refuse(t, ns, 2, "--probe-requests \"cpu\": want NAME=QUANTITY", "--yes", "--probe", "--probe-requests", "cpu")
	})
	t.Run("drill already running", func(t *testing.T) {
		const ns = "pf-lock"
		karpenter(ctx, t, ns, 2, true, false)
		lockLease(ctx, t, ns, "drill-other", time.Now())
		refuse(t, ns, 3, "drill drill-other is running", "--yes", "--force")
	})
}

// Acceptance 5: a read-only identity is refused with the missing verbs named, before anything changes.
func TestRBACReadOnlyRefused(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "rbac"
	karpenter(ctx, t, ns, 2, true, false)
	kc := readOnly(ctx, t)
	before := snapshot(ctx, t, ns)
	r := e2e.Karpctl(ctx, t, kc, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "missing RBAC permission: create leases.coordination.k8s.io in namespace rbac") ||
		!strings.Contains(r.Stderr, "create pods/eviction in namespace rbac") {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	r = e2e.Karpctl(ctx, t, kc, "drill", "zone-outage", "zone-a", "--yes", "--karpenter-namespace", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "patch nodes") {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") && !strings.Contains(q, "selfsubjectaccessreviews") {
			t.Errorf("a refused drill sent %s", q)
		}
	}
	sameSnapshot(t, before, snapshot(ctx, t, ns))
}

// readOnly mints a user who may read Deployments, pods, events, leases, nodes and PDBs, and nothing else.
func readOnly(ctx context.Context, t *testing.T) string {
	t.Helper()
	kc, err := env.RestrictedKubeconfig(ctx, "drill-viewer",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "events", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// inZones keeps the replicas to the given zones. With two zones and the chart's zone spread
// (DoNotSchedule), a replacement for a replica of a cordoned zone cannot schedule until the zone is
// uncordoned: a zone-outage drill then stays mid-action (waiting for Ready replicas) for as long as
// --unschedulable-grace, whatever the machine's speed.
func inZones(zones ...string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		terms := d.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		terms[0].MatchExpressions = append(terms[0].MatchExpressions, corev1.NodeSelectorRequirement{
			Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: zones})
	}
}

// leaderZone is the zone and node of the lease holder's pod.
func leaderZone(ctx context.Context, t *testing.T, ns string) (zone, node string) {
	t.Helper()
	_, pod := holder(ctx, t, ns)
	p, err := env.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	return n.Labels[corev1.LabelTopologyZone], n.Name
}

// zoneSetup: Karpenter in ns with the leader's zone found; the other node of that zone is cordoned
// by "someone else" first and must stay cordoned.
func zoneSetup(ctx context.Context, t *testing.T, ns string, edits ...func(*appsv1.Deployment)) (zone, preCordoned string) {
	t.Helper()
	karpenter(ctx, t, ns, 2, true, false, edits...)
	zone, node := leaderZone(ctx, t, ns)
	preCordoned = "sys-" + strings.TrimPrefix(zone, "zone-") + "1"
	if preCordoned == node {
		preCordoned = "sys-" + strings.TrimPrefix(zone, "zone-") + "2"
	}
	setUnschedulable(ctx, t, preCordoned, true)
	t.Cleanup(func() { setUnschedulable(context.Background(), t, preCordoned, false) })
	return zone, preCordoned
}

func setUnschedulable(ctx context.Context, t *testing.T, node string, v bool) {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	if _, err := env.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Error(err)
	}
}

// cordonState lists the nodes that are unschedulable and those carrying the drill label.
func cordonState(ctx context.Context, t *testing.T) (cordoned, marked []string) {
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			cordoned = append(cordoned, n.Name)
		}
		if n.Labels[drill.CordonLabel] != "" || n.Annotations[drill.CordonAnnotation] != "" {
			marked = append(marked, n.Name)
		}
	}
	sort.Strings(cordoned)
	return cordoned, marked
}

// nodeWriters says, for each node, whether it is unschedulable and which field managers wrote it when:
// the story of a cordon that is not where a test expects it.
func nodeWriters(ctx context.Context, t *testing.T) string {
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, n := range nodes.Items {
		fmt.Fprintf(&b, "%s unschedulable=%t rv=%s:", n.Name, n.Spec.Unschedulable, n.ResourceVersion)
		for _, m := range n.ManagedFields {
			fmt.Fprintf(&b, " %s/%s/%s@%s", m.Manager, m.Operation, m.Subresource, m.Time.Format("15:04:05"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func requireRestored(ctx context.Context, t *testing.T, preCordoned string) {
	t.Helper()
	cordoned, marked := cordonState(ctx, t)
	if len(marked) != 0 || len(cordoned) != 1 || cordoned[0] != preCordoned {
		t.Fatalf("after the drill: cordoned %v (want only %s, cordoned before), marked %v", cordoned, preCordoned, marked)
	}
}

// Acceptance 4: zone-outage with the leader in the zone → PASS, failover measured, replacement in
// another zone, every node it cordoned uncordoned, the pre-cordoned node left cordoned.
func TestZoneOutage(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone"
	zone, pre := zoneSetup(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Released || len(rep.Plan.Cordon) != 1 || len(rep.Restored) != 1 || rep.Restored[0] != rep.Plan.Cordon[0] {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(strings.Join(rep.Plan.Skipped, " "), pre+": already cordoned") {
		t.Fatalf("skipped %v", rep.Plan.Skipped)
	}
	requireKinds(t, rep, drill.EvCordoned, drill.EvEvicted, drill.EvAcquired, drill.EvScheduled, drill.EvReady, drill.EvUncordoned)
	checkFailoverAgainstLease(ctx, t, ns, rep)
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
	// The replacement runs outside the zone.
	pods, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		n, _ := env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if p.DeletionTimestamp == nil && n.Labels[corev1.LabelTopologyZone] == zone {
			t.Fatalf("%s still in %s on %s", p.Name, zone, n.Name)
		}
	}
}

// karpctlProcess is this test binary, which runs as karpctl in a separate process (see karpctlEnv),
// and the environment that makes it do so.
func karpctlProcess(t *testing.T) (path string, environ []string) {
	t.Helper()
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return path, append(os.Environ(), karpctlEnv+"=1")
}

// startDrill runs zone-outage as a separate process and returns once it has cordoned a node.
func startDrill(ctx context.Context, t *testing.T, ns, zone string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	karpctl, environ := karpctlProcess(t)
	cmd := exec.CommandContext(ctx, karpctl, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns,
		"--retry-period", "250ms", "--timeout", "60s", "--kubeconfig", env.Kubeconfig)
	cmd.Env = environ
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	cmd.Stderr = &all
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), drill.EvCordoned) {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, &all
		}
	}
	_ = cmd.Wait()
	t.Fatalf("the drill never cordoned a node:\n%s", all.String())
	return nil, nil
}

// Acceptance 4: SIGINT mid-drill → nodes restored before the process exits. The replacement cannot
// schedule while the zone is cordoned (inZones), so the drill is still waiting when the signal comes;
// with an ordinary setup the simulated failover can finish before the test looks.
func TestZoneOutageSIGINT(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-int"
	zone, pre := zoneSetup(ctx, t, ns, inZones("zone-a", "zone-b"))
	cmd, out := startDrill(ctx, t, ns, zone)
	if cordoned, _ := cordonState(ctx, t); len(cordoned) != 2 {
		t.Fatalf("mid-drill cordoned %v (pre-cordoned %s)\n%s\n%s", cordoned, pre, nodeWriters(ctx, t), out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	t.Logf("drill exited %d (%v):\n%s", code, err, out.String())
	if code != 3 {
		t.Fatalf("exit %d after SIGINT, want 3 (FAIL: interrupted)", code)
	}
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
}

// Acceptance 4: SIGKILL mid-drill leaves the marks; `drill restore` undoes them.
func TestZoneOutageSIGKILLRestore(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-kill"
	zone, pre := zoneSetup(ctx, t, ns, inZones("zone-a", "zone-b"))
	cmd, _ := startDrill(ctx, t, ns, zone)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	cordoned, marked := cordonState(ctx, t)
	if len(cordoned) != 2 || len(marked) != 1 {
		t.Fatalf("after SIGKILL: cordoned %v marked %v", cordoned, marked)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns)
	if r.Code != 0 || !strings.Contains(r.Stdout, "uncordoned "+marked[0]) || !strings.Contains(r.Stdout, "deleted drill lock "+ns+"/"+drill.LockName) {
		t.Fatalf("restore: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
	// Idempotent.
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Nothing to restore") {
		t.Fatalf("second restore: %d %s", r.Code, r.Stdout)
	}
}

// Acceptance 6: the history shows the drills above with their failover times. Runs last (go test
// runs tests in source order).
func TestZZHistory(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	r := e2e.Karpctl(ctx, t, "", "drill", "history", "-o", "json")
	var h struct {
		File   string
		Trends []drill.Trend
		Drills []drill.HistoryEntry
	}
	if r.Code != 0 {
		t.Fatalf("exit %d %s", r.Code, r.Stdout)
	}
	r.Decode(t, &h)
	passWithFailover := 0
	for _, d := range h.Drills {
		if d.Result == drill.Pass && d.FailoverSeconds > 0 {
			passWithFailover++
		}
	}
	if passWithFailover < 3 || len(h.Trends) == 0 || h.Trends[0].Context != "harness" {
		t.Fatalf("history %+v", h)
	}
	r = e2e.Karpctl(ctx, t, "", "drill", "history")
	for _, w := range []string{"FAILOVER P50", "FAILOVER MAX", "leader-kill", "zone-outage", "REFUSED", "released", "expired"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("history lacks %q", w)
		}
	}
}

// lockLease creates a drill lock (drill.LockName) in ns held by holder since at, shaped like the
// drill's own (acquireTime = renewTime, a 60 s duration as with --timeout 60s).
func lockLease(ctx context.Context, t *testing.T, ns, holder string, at time.Time) {
	t.Helper()
	since, secs := metav1.NewMicroTime(at), int32(60)
	if _, err := env.Client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: drill.LockName},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &since, RenewTime: &since, LeaseDurationSeconds: &secs},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// On a terminal the drill asks before acting: "no" refuses with the cluster unchanged (exit 2), Ctrl-C
// at the prompt answers no at once (it used to wait for Enter), "yes" runs it. Each runs on a
// pseudo-terminal of its own, and each answer is typed only once the prompt shows (a ^C typed earlier
// would interrupt the preflight instead).
func TestConfirmationOnTerminal(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-tty"
	karpenter(ctx, t, ns, 2, true, false)
	args := []string{"drill", "leader-kill", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--kubeconfig", env.Kubeconfig}
	answer := func(keys string) (int, string) {
		t.Helper()
		tm := startOnTerminal(ctx, t, args...)
		tm.WaitFor(ctx, t, "Proceed with the drill?")
		tm.Type(t, keys)
		return tm.Exit(t, 90*time.Second)
	}
	before := snapshot(ctx, t, ns)
	if code, out := answer("no\r"); code != 2 || !strings.Contains(out, "not confirmed; nothing was changed") {
		t.Fatalf("answer no: exit %d\n%s", code, out)
	}
	sameSnapshot(t, before, snapshot(ctx, t, ns))

	if code, out := answer("\x03"); code != 2 || !strings.Contains(out, "not confirmed; nothing was changed") {
		t.Fatalf("Ctrl-C at the prompt: exit %d\n%s", code, out)
	}
	sameSnapshot(t, before, snapshot(ctx, t, ns))

	if code, out := answer("yes\r"); code != 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("answer yes: exit %d\n%s", code, out)
	}
	lockGone(ctx, t, ns)
}

// A lock left by a drill that died (older than --timeout) refuses the next drill, naming it; --force
// takes it over, and the drill deletes it at the end as its own.
func TestStaleLockNeedsForce(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-stale"
	karpenter(ctx, t, ns, 2, true, false)
	const holder = "drill-20261127-000000-dead00"
	lockLease(ctx, t, ns, holder, time.Now().Add(-10*time.Minute))
	args := []string{"drill", "leader-kill", "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s"}
	before := snapshot(ctx, t, ns)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, args...)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "stale lock") || !strings.Contains(r.Stdout+r.Stderr, holder) {
		t.Fatalf("without --force: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	sameSnapshot(t, before, snapshot(ctx, t, ns))
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, append(args, "--force")...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "PASS") {
		t.Fatalf("with --force: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	lockGone(ctx, t, ns)
}

// A zone outage whose replacement cannot schedule anywhere (the Deployment allows only two zones, and
// zone spread + host anti-affinity forbid the survivor's zone) ends as FAIL with the scheduler's
// reason once the leader has failed over and --unschedulable-grace has passed — not at --timeout —
// and the cordoned nodes are restored.
func TestZoneOutageReplacementUnschedulable(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-stuck"
	karpenter(ctx, t, ns, 2, false, false, inZones("zone-a", "zone-b"))
	zone, _ := leaderZone(ctx, t, ns)

	report := filepath.Join(t.TempDir(), "r.json")
	start := time.Now()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns,
		"--retry-period", "250ms", "--timeout", "2m", "--unschedulable-grace", "3s", "--report", report)
	took := time.Since(start)
	rep := readReport(t, report)
	if r.Code != 3 || rep.Result != drill.Fail || !strings.Contains(rep.Reason, "cannot schedule") || !strings.Contains(rep.Reason, "gave up before --timeout") {
		t.Fatalf("exit %d, report %s: %s", r.Code, rep.Result, rep.Reason)
	}
	if took > time.Minute {
		t.Fatalf("took %s: the drill waited for --timeout instead of the grace", took)
	}
	requireKinds(t, rep, drill.EvCordoned, drill.EvEvicted, drill.EvAcquired, drill.EvUnschedulable, drill.EvUncordoned)
	if cordoned, marked := cordonState(ctx, t); len(cordoned) != 0 || len(marked) != 0 {
		t.Fatalf("not restored: cordoned %v, marked %v", cordoned, marked)
	}
	lockGone(ctx, t, ns)
	t.Logf("ended after %s: %s", took.Round(100*time.Millisecond), rep.Reason)
}
