// End-to-end test of health's metrics checks through the API server's pod proxy for real: the
// Karpenter pods get addresses of a network namespace this test creates (harness.TestHost), where a
// server of the test's own serves the recorded /metrics of a real Karpenter v1.15.0 leader and
// follower. Loopback pod IPs, which every other test uses, are refused by the API server.
package healthproxy

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

// serveEnv makes the test binary a metrics server ("ADDR=FILE,ADDR=FILE") instead of running tests:
// the test re-executes itself inside the test host's network namespace.
const serveEnv = "KARPCTL_SERVE_METRICS"

func TestMain(m *testing.M) {
	if spec := os.Getenv(serveEnv); spec != "" {
		serve(spec)
		return
	}
	os.Exit(harness.Main(m, harness.Options{}, &env))
}

func serve(spec string) {
	errs := make(chan error)
	for _, pair := range strings.Split(spec, ",") {
		addr, file, _ := strings.Cut(pair, "=")
		mux := http.NewServeMux()
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			http.ServeFile(w, r, file)
		})
		go func() { errs <- http.ListenAndServe(addr, mux) }()
	}
	fmt.Fprintln(os.Stderr, <-errs)
	os.Exit(1)
}

func recorded(role string) string {
	return filepath.Join(harness.RepoRoot(), "internal", "health", "testdata", "karpenter-v1.15.0-"+role+".metrics.txt")
}

// startServer serves files (by pod IP) on port 8080 inside the test host until stopped (or the test ends).
func startServer(ctx context.Context, t *testing.T, host *harness.TestHost, files map[string]string) (stop func()) {
	t.Helper()
	var spec []string
	for ip, f := range files {
		spec = append(spec, ip+":8080="+f)
	}
	cmd := host.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serveEnv+"="+strings.Join(spec, ","))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }) }
	t.Cleanup(stop)
	for ip := range files {
		ok := harness.WaitFor(ctx, func() bool {
			resp, err := http.Get("http://" + ip + ":8080/metrics")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
		if !ok {
			t.Fatalf("metrics server on %s never answered", ip)
		}
	}
	return stop
}

func TestMetricsChecksThroughPodProxy(t *testing.T) {
	harness.Need(t, env)
	if err := harness.TestHostsSupported(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx := e2e.Context(t, 2*time.Minute)
	host, err := harness.NewTestHost("kctl-hproxy", 77, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()

	const ns = "karpenter"
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, ns)
	d, err := env.Client.AppsV1().Deployments(ns).Create(ctx, harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns}), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No controller-manager here: the Deployment's status is the test's to write.
	d.Status.Replicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, d.Status.UpdatedReplicas = 2, 2, 2, 2
	if _, err := env.Client.AppsV1().Deployments(ns).UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []*corev1.Pod
	for i, ip := range host.IPs {
		node := b.Node(ctx, t, harness.NodeSpec{Name: fmt.Sprintf("proxy-node-%c", 'a'+i), Zone: fmt.Sprintf("zone-%c", 'a'+i), NotKwok: true})
		p := b.Pod(ctx, t, harness.PodSpec{Namespace: ns, Name: fmt.Sprintf("karpenter-5d8f7c9b6-%c", 'a'+i), Node: node.Name, Labels: d.Spec.Template.Labels, Template: &d.Spec.Template.Spec})
		now := metav1.Now()
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, HostIP: host.HostIP, StartTime: &now,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "controller", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}}
		if p, err = env.Client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	e2e.Replica(t, env, harness.FastTimings(harness.ReplicaSpec{Namespace: ns, Pod: pods[0].Name}))
	e2e.WaitLeaseHolder(ctx, t, env, ns, "karpenter-leader-election", pods[0].Name)

	run := func() (health.Report, e2e.Result) {
		t.Helper()
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, "health", "-o", "json", "--karpenter-namespace", ns)
		var rep health.Report
		r.Decode(t, &rep)
		return rep, r
	}
	status := func(rep health.Report, name string) health.Check {
		for _, c := range rep.Checks {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no check %s in %+v", name, rep.Checks)
		return health.Check{}
	}

	// The leader pod serves a real leader's metrics, the follower a real follower's: all OK, read
	// through GET pods/proxy.
	stopSrv := startServer(ctx, t, host, map[string]string{host.IPs[0]: recorded("leader"), host.IPs[1]: recorded("follower")})
	rep, r := run()
	for _, name := range []string{"metrics/" + pods[0].Name, "metrics/" + pods[1].Name, "metrics/leader-status"} {
		if c := status(rep, name); c.Status != health.OK {
			t.Errorf("%s: %s %q", name, c.Status, c.Message)
		}
	}
	if c := status(rep, "metrics/leader-status"); !strings.Contains(c.Message, pods[0].Name) {
		t.Errorf("leader-status does not name the holder %s: %q", pods[0].Name, c.Message)
	}
	if m := rep.Metrics[pods[1].Name]; m.Throttled != 1 || m.LeaderStatus == nil || *m.LeaderStatus != 0 {
		t.Errorf("follower metrics %+v: the recorded follower has one 429 and leader status 0", m)
	}
	proxied := 0
	for _, q := range r.Requests {
		if strings.Contains(q, "/proxy/metrics") {
			proxied++
		}
	}
	if r.Code != 0 || proxied != 2 {
		t.Fatalf("exit %d, %d proxied scrapes in %v", r.Code, proxied, r.Requests)
	}
	stopSrv()

	// Both replicas claim leadership in their metrics: split brain is a FAIL naming both.
	startServer(ctx, t, host, map[string]string{host.IPs[0]: recorded("leader"), host.IPs[1]: recorded("leader")})
	rep, r = run()
	c := status(rep, "metrics/leader-status")
	if r.Code != 3 || c.Status != health.Fail || !strings.Contains(c.Message, pods[0].Name) || !strings.Contains(c.Message, pods[1].Name) {
		t.Fatalf("split brain: exit %d, %s %q", r.Code, c.Status, c.Message)
	}
}
