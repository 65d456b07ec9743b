// End-to-end tests of fleet mode (--contexts, --all-contexts, --context-selector) on two real
// kube-apiservers: "healthy" runs a chart-like Karpenter with two simulated replicas doing real
// client-go leader election in two zones; "stale" has Karpenter 1.14.2 with both replicas in one
// zone, no PodDisruptionBudget and a lease last renewed 50 minutes ago (Stale: its duration is an
// hour); "closed" points at a loopback port nothing listens on.
package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

var healthyEnv, staleEnv *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.MainN(m, harness.Options{Kwok: true}, &healthyEnv, &staleEnv))
}

const ns = "karpenter"

// fixture is built once for the package, by whichever test runs first.
type fixture struct {
	kubeconfig string
	closed     string // the closed context's server
	leader     string // the healthy cluster's leader pod
	staleOwner string // the stale lease's holder pod
	ready      bool
}

var (
	fix     fixture
	fixOnce sync.Once
)

func setup(t testing.TB) fixture {
	t.Helper()
	harness.Need(t, healthyEnv)
	fixOnce.Do(func() {
		ctx := e2e.Context(t, 3*time.Minute)
		fix.leader = healthyCluster(ctx, t)
		fix.staleOwner = staleCluster(ctx, t)
		fix.closed = fmt.Sprintf("https://127.0.0.1:%d", harness.FreePort()) // nothing listens there
		fix.kubeconfig = filepath.Join(healthyEnv.Dir, "kubeconfig-fleet")
		if err := harness.WriteKubeconfigContexts(fix.kubeconfig,
			harness.KubeContext{Name: "healthy", Env: healthyEnv},
			harness.KubeContext{Name: "stale", Env: staleEnv},
			harness.KubeContext{Name: "closed", Env: healthyEnv, Server: fix.closed}); err != nil {
			t.Fatal(err)
		}
		fix.ready = true
	})
	if !fix.ready {
		t.Fatal("the fleet fixture failed to build in an earlier test")
	}
	return fix
}

// healthyCluster: nodes in zone-a and zone-b, the chart's Deployment and PDB, one Ready pod per
// node, and a simulated replica per pod with Karpenter's own election timings (15 s / 10 s / 2 s).
// It returns the leader.
func healthyCluster(ctx context.Context, t testing.TB) string {
	b := harness.NewBuilder(healthyEnv.Client)
	b.Node(ctx, t, harness.NodeSpec{Name: "sys-a", Zone: "zone-a"})
	b.Node(ctx, t, harness.NodeSpec{Name: "sys-b", Zone: "zone-b"})
	pods := b.Karpenter(ctx, t, harness.KarpenterSpec{Namespace: ns}, "sys-a", "sys-b")
	if _, err := healthyEnv.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, harness.KarpenterPDB(ns), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready(ctx, t, healthyEnv, len(pods))
	for i, p := range pods {
		if _, err := healthyEnv.StartReplica(harness.ReplicaSpec{Namespace: ns, Pod: p.Name}, nil); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // the first one leads
			e2e.WaitLeaseHolder(ctx, t, healthyEnv, ns, "", p.Name)
		}
	}
	return pods[0].Name
}

// staleCluster: Karpenter 1.14.2, two Ready pods on two nodes of zone-a, no PDB, and a lease held
// by the first pod, last renewed 50 minutes ago with a one-hour duration: Stale, not yet Expired.
func staleCluster(ctx context.Context, t testing.TB) string {
	b := harness.NewBuilder(staleEnv.Client)
	b.Node(ctx, t, harness.NodeSpec{Name: "a1", Zone: "zone-a"})
	b.Node(ctx, t, harness.NodeSpec{Name: "a2", Zone: "zone-a"})
	pods := b.Karpenter(ctx, t, harness.KarpenterSpec{Namespace: ns, Image: "public.ecr.aws/karpenter/controller:1.14.2"}, "a1", "a2")
	ready(ctx, t, staleEnv, len(pods))
	id, dur, transitions := pods[0].Name+"_6b0d4f5e-0000-4000-8000-000000000001", int32(3600), int32(3)
	acquired, renewed := metav1.NewMicroTime(time.Now().Add(-2*time.Hour)), metav1.NewMicroTime(time.Now().Add(-50*time.Minute))
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: discovery.DefaultLeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, AcquireTime: &acquired, RenewTime: &renewed, LeaseTransitions: &transitions}}
	if _, err := staleEnv.Client.CoordinationV1().Leases(ns).Create(ctx, l, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return pods[0].Name
}

// ready waits for kwok to make the n Karpenter pods Running and Ready, and records the Deployment
// as available (no controller-manager runs here to do it).
func ready(ctx context.Context, t testing.TB, env *harness.Env, n int) {
	t.Helper()
	if err := harness.Poll(ctx, 100*time.Millisecond, "the Karpenter pods to be ready", func() (bool, error) {
		list, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		got := 0
		for i := range list.Items {
			if discovery.PodReady(&list.Items[i]) {
				got++
			}
		}
		return got == n, nil
	}); err != nil {
		t.Fatal(err)
	}
	d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "karpenter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := int32(n)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, ReadyReplicas: r, AvailableReplicas: r, UpdatedReplicas: r,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
	if _, err := env.Client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// three is the acceptance fleet, in this order.
const three = "healthy,stale,closed"

// karpctl runs a command against the fleet's kubeconfig with each request bounded by 10 s.
func karpctl(ctx context.Context, t *testing.T, f fixture, args ...string) e2e.Result {
	t.Helper()
	return e2e.Karpctl(ctx, t, f.kubeconfig, append(args, "--request-timeout", "10s")...)
}

// sameCostAsSingle checks that the fleet run sent each cluster exactly the requests the
// single-cluster command sends it (the per-command budgets of the single-cluster e2e tests hold
// per cluster), and only GETs.
func sameCostAsSingle(ctx context.Context, t *testing.T, f fixture, fleetRun e2e.Result, args ...string) map[string][]string {
	t.Helper()
	per := map[string][]string{}
	for name, server := range map[string]string{"healthy": healthyEnv.Server(), "stale": staleEnv.Server(), "closed": f.closed} {
		single := karpctl(ctx, t, f, append(args, "--context", name)...)
		want, got := single.RequestsTo(server), fleetRun.RequestsTo(server)
		slices.Sort(want)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: the fleet sent %d requests, the single-cluster command %d:\nfleet:  %v\nsingle: %v", name, len(got), len(want), got, want)
		}
		for _, r := range got {
			if !strings.HasPrefix(r, "GET ") {
				t.Errorf("%s: %s", name, r)
			}
		}
		per[name] = got
	}
	if n := len(fleetRun.Requests); n != len(per["healthy"])+len(per["stale"])+len(per["closed"]) {
		t.Errorf("%d requests in all, to other hosts too: %v %v", n, fleetRun.Hosts, fleetRun.Requests)
	}
	return per
}

// row is the table row of a context.
func row(t *testing.T, out, context string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, context+" ") {
			return l
		}
	}
	t.Fatalf("no row for %s:\n%s", context, out)
	return ""
}

// oneErrorLine checks stderr: exactly the one-line fleet verdict, no progress (not a terminal).
func oneErrorLine(t *testing.T, r e2e.Result, want string) {
	t.Helper()
	if r.Stderr != "error: "+want+"\n" {
		t.Errorf("stderr %q, want %q", r.Stderr, "error: "+want)
	}
}
