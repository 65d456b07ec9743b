// End-to-end tests of `kubectl karpctl health` on a real kube-apiserver with kube-controller-manager,
// kube-scheduler and kwok (a real Deployment, ReplicaSet and Ready pods), and simulated Karpenter
// replicas doing real client-go leader election. The pods have loopback addresses, which the API
// server refuses to proxy to: the metrics checks must come out SKIPPED with that error.
package health

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{Kwok: true, ControllerManager: true, Scheduler: true}, &env))
}

const leaseName = "karpenter-leader-election"

var setupOnce sync.Once

func setupCluster(ctx context.Context, t *testing.T) {
	setupOnce.Do(func() {
		b := harness.NewBuilder(env.Client)
		for _, z := range []string{"a", "b", "c"} {
			b.Node(ctx, t, harness.NodeSpec{Name: "sys-" + z, Zone: "zone-" + z, CPU: "32", Memory: "128Gi"})
		}
		// Wait for the node lifecycle controller to drop the not-ready taints, or the first pods
		// record FailedScheduling events (which health rightly reports).
		if err := harness.Poll(ctx, 100*time.Millisecond, "the nodes' not-ready taints to go", func() (bool, error) {
			nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			for _, n := range nodes.Items {
				if len(n.Spec.Taints) > 0 {
					return false, nil
				}
			}
			return true, nil
		}); err != nil {
			t.Fatalf("nodes kept their taints: %v", err)
		}
	})
}

// karpenter creates the chart-like Deployment in ns, waits for its Ready pods and gives each a
// simulated replica; it returns the replicas by pod name once one holds the lease.
func karpenter(ctx context.Context, t *testing.T, ns string) map[string]*harness.Process {
	t.Helper()
	setupCluster(ctx, t)
	harness.NewBuilder(env.Client).Namespace(ctx, t, ns)
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	if err := harness.Poll(ctx, 100*time.Millisecond, "deployment "+ns+"/karpenter to be ready", func() (bool, error) {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "karpenter", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 2, err
	}); err != nil {
		t.Fatalf("deployment never ready: %v", err)
	}
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]*harness.Process{}
	for _, p := range pods.Items {
		procs[p.Name] = e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: ns, Pod: p.Name}))
	}
	e2e.WaitLeaseHolder(ctx, t, env, ns, leaseName, "")
	return procs
}

func healthOf(ctx context.Context, t *testing.T, kubeconfig, ns string) (health.Report, e2e.Result) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, kubeconfig, "health", "-o", "json", "--karpenter-namespace", ns)
	var rep health.Report
	r.Decode(t, &rep)
	return rep, r
}

func check(t *testing.T, r health.Report, prefix string) []health.Check {
	t.Helper()
	var out []health.Check
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no check %s: %+v", prefix, r.Checks)
	}
	return out
}

// Acceptance 1: a healthy two-replica setup → every check OK except the metrics checks, which are
// SKIPPED with the API server's refusal to proxy to a loopback pod address (never a silent pass).
func TestHealthyTwoReplicas(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	karpenter(ctx, t, "healthy")
	rep, r := healthOf(ctx, t, env.Kubeconfig, "healthy")
	if r.Code != 0 || rep.Verdict != health.OK {
		t.Fatalf("exit %d verdict %s", r.Code, rep.Verdict)
	}
	for _, c := range rep.Checks {
		metrics := strings.HasPrefix(c.Name, "metrics")
		switch {
		case metrics && c.Status != health.Skipped:
			t.Errorf("metrics check %s is %s, want SKIPPED (loopback pod IPs are not proxied): %s", c.Name, c.Status, c.Message)
		case metrics && c.Message == "":
			t.Errorf("SKIPPED without a reason: %+v", c)
		case !metrics && c.Status != health.OK:
			t.Errorf("%s is %s: %s", c.Name, c.Status, c.Message)
		}
	}
	per := check(t, rep, "metrics/karpenter-")
	if len(per) != 2 || !strings.Contains(per[0].Message, "GET pods/proxy") {
		t.Fatalf("per-replica metrics checks %+v", per)
	}
	// The table form.
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "health", "--karpenter-namespace", "healthy")
	for _, w := range []string{"STATUS", "deployment", "leader", "lease-renewal", "followers", "SKIPPED", "Verdict: OK"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("table lacks %q", w)
		}
	}
}

// Acceptance 1: the leader stopped (killed, nobody takes over) → FAIL naming the stale lease, exit 3.
func TestLeaderStopped(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	procs := karpenter(ctx, t, "stopped")
	for _, p := range procs {
		p.Kill()
	}
	time.Sleep(1500 * time.Millisecond) // past 2/3 of the 2 s lease duration
	rep, r := healthOf(ctx, t, env.Kubeconfig, "stopped")
	c := check(t, rep, "lease-renewal")[0]
	if r.Code != 3 || rep.Verdict != health.Fail || c.Status != health.Fail || !strings.Contains(c.Message, "stopped/"+leaseName+" is ") ||
		!(strings.Contains(c.Message, "Stale") || strings.Contains(c.Message, "Expired")) {
		t.Fatalf("exit %d verdict %s check %+v", r.Code, rep.Verdict, c)
	}
	if !strings.Contains(r.Stderr, "lease-renewal") {
		t.Fatalf("stderr %q", r.Stderr)
	}
}

// Acceptance 1: a replica CrashLooping after OOMKills → WARN naming it.
func TestCrashLoopingReplica(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "crashloop"
	karpenter(ctx, t, ns)
	l, _ := env.Client.CoordinationV1().Leases(ns).Get(ctx, leaseName, metav1.GetOptions{})
	pods, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	var victim *corev1.Pod
	for i := range pods.Items {
		if !strings.HasPrefix(*l.Spec.HolderIdentity, pods.Items[i].Name+"_") {
			victim = &pods.Items[i]
		}
	}
	victim.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "controller", Image: victim.Spec.Containers[0].Image, RestartCount: 5, Ready: true,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 2m40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}
	if _, err := env.Client.CoreV1().Pods(ns).UpdateStatus(ctx, victim, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, r := healthOf(ctx, t, env.Kubeconfig, ns)
	c := check(t, rep, "restarts/"+victim.Name)[0]
	if r.Code != 0 || rep.Verdict != health.Warn || c.Status != health.Warn || !strings.Contains(c.Message, "5 restarts") ||
		!strings.Contains(c.Message, "OOMKilled") || !strings.Contains(c.Message, "CrashLoopBackOff") {
		t.Fatalf("exit %d verdict %s check %+v", r.Code, rep.Verdict, c)
	}
	if r := e2e.Karpctl(ctx, t, env.Kubeconfig, "health", "--strict", "--karpenter-namespace", ns); r.Code != 3 {
		t.Fatalf("--strict exit %d", r.Code)
	}
}

// Acceptance 5: a read-only identity runs health; the proxy checks are SKIPPED naming pods/proxy.
func TestReadOnlyIdentity(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "readonly"
	karpenter(ctx, t, ns)
	kc, err := env.RestrictedKubeconfig(ctx, "health-viewer",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "events", "nodes"}, Verbs: []string{"get", "list"}},
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	rep, r := healthOf(ctx, t, kc, ns)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, c := range check(t, rep, "metrics/karpenter-") {
		if c.Status != health.Skipped || !strings.Contains(c.Message, `cannot get resource "pods/proxy"`) {
			t.Fatalf("%+v", c)
		}
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("health sent %s", q)
		}
	}
}
