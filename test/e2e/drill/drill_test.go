// End-to-end tests of `kubectl karpctl drill` on a real kube-apiserver with kube-controller-manager,
// kube-scheduler and kwok, and simulated Karpenter replicas doing real client-go leader election.
package drill

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
)

var env *harness.Env

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
		l, lerr := env.Client.CoordinationV1().Leases(ns).Get(ctx, discovery.DefaultLeaseName, metav1.GetOptions{})
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
	l, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, discovery.DefaultLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		t.Fatalf("lease %s/%s has no holder", ns, discovery.DefaultLeaseName)
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
	l, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, discovery.DefaultLeaseName, metav1.GetOptions{})
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
		if l.Name != discovery.DefaultLeaseName {
			out["lease/"+l.Name] = l.ResourceVersion
		}
	}
	return out
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

// recorded is the history line of drill id (the history file is the test binary's own, see TestMain).
func recorded(t *testing.T, id string) drill.HistoryEntry {
	t.Helper()
	path, err := drill.HistoryPath()
	if err != nil {
		t.Fatal(err)
	}
	es, _, err := drill.ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.ID == id {
			return e
		}
	}
	t.Fatalf("drill %s is not in the history %s", id, path)
	return drill.HistoryEntry{}
}
