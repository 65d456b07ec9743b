package top

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/test/e2e"
)

// liveModel runs the model against the API server through a proxy the test can cut, with its
// requests counted (after faults, if any, are injected by wraps).
func liveModel(ctx context.Context, t testing.TB, wraps ...func(http.RoundTripper) http.RoundTripper) (*top.Live, *harness.RequestCounter, *harness.LatencyProxy) {
	t.Helper()
	proxy, err := harness.StartLatencyProxy(strings.TrimPrefix(env.Server(), "https://"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.Addr()
	for _, w := range wraps {
		cfg.Wrap(w)
	}
	cfg, rec := harness.CountRequests(cfg)
	conn := &top.Conn{}
	cfg.Wrap(conn.Wrap)
	// The clientset top builds: protobuf for the core kinds.
	kube, err := cli.ClientsetFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := discovery.Find(ctx, kube, discovery.Options{})
	if err != nil {
		t.Fatal(err)
	}
	live := top.New(top.Options{Kube: kube, Dynamic: d, Karpenter: k, Conn: conn, PredictInterval: time.Second,
		Source: func(s *engine.Snapshot) (engine.InstanceTypeSource, error) { return engine.Sources(s, "") }})
	live.Start(ctx)
	if err := live.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	go live.RunPredictions(ctx)
	return live, rec, proxy
}

func screenNow(live *top.Live) *top.Screen {
	return top.Build(live.Input(top.View{Resources: []string{"cpu"}}, time.Now()))
}

// await polls the model's screen until cond holds and returns how long that took.
func await(ctx context.Context, t *testing.T, live *top.Live, what string, cond func(*top.Screen) bool) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !cond(screenNow(live)) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not seen within the test's time", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
	d := time.Since(t0)
	t.Logf("%s: seen after %v", what, d)
	return d
}

// Changes appear while top runs, with no LIST repeated; cutting the API server off marks the
// screen stale and keeps the last data.
func TestTopLive(t *testing.T) {
	ctx := e2e.Context(t, 4*time.Minute)
	cluster(ctx, t)
	// Its own NodePool and nodes, so that other tests' numbers do not depend on this one.
	id := fmt.Sprintf("live-%d", time.Now().UnixNano()%1000000)
	if err := sandbox.CreateReadyNodePool(ctx, dyn, id, 0); err != nil {
		t.Fatal(err)
	}
	b := harness.NewBuilder(env.Client)
	labels := map[string]string{karpv1.NodePoolLabelKey: id, corev1.LabelInstanceTypeStable: instanceType, karpv1.CapacityTypeLabelKey: "on-demand"}
	// Other tests count the cluster's pods and nodes: leave theirs as they were.
	t.Cleanup(func() {
		now := metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}
		for _, pod := range []string{id, id + "-pending"} {
			_ = env.Client.CoreV1().Pods("shop").Delete(context.Background(), pod, now)
		}
		for _, node := range []string{id + "-1", id + "-2"} {
			_ = env.Client.CoreV1().Nodes().Delete(context.Background(), node, now)
		}
		_ = dyn.Resource(sandbox.NodePoolResource).Delete(context.Background(), id, metav1.DeleteOptions{})
	})
	live, rec, proxy := liveModel(ctx, t)
	await(ctx, t, live, "first prediction", func(s *top.Screen) bool { return s.Next.Launch != nil })

	b.Node(ctx, t, harness.NodeSpec{Name: id + "-1", Zone: zone, Labels: labels, NotKwok: true})
	b.Node(ctx, t, harness.NodeSpec{Name: id + "-2", Zone: zone, Labels: labels, NotKwok: true})
	await(ctx, t, live, "two new nodes", func(s *top.Screen) bool {
		pl := poolOf(s, id)
		return pl != nil && pl.Nodes == 2
	})
	p := harness.PodObject(harness.PodSpec{Namespace: "shop", Name: id, Node: id + "-2", CPU: "1500m", Memory: "1Gi"})
	if _, err := env.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	await(ctx, t, live, "a bound pod", func(s *top.Screen) bool {
		r := rowOf(s, id+"-2")
		return r != nil && r.Usage["cpu"].Requested == 1.5
	})
	pending := harness.PodObject(harness.PodSpec{Namespace: "shop", Name: id + "-pending", CPU: "3", Memory: "1Gi"})
	if _, err := env.Client.CoreV1().Pods("shop").Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	await(ctx, t, live, "a pending pod, planned", func(s *top.Screen) bool {
		for _, p := range s.Pending {
			if p.Name == id+"-pending" && p.Plan != "" {
				return true
			}
		}
		return false
	})
	if err := env.Client.CoreV1().Nodes().Delete(ctx, id+"-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	await(ctx, t, live, "a deleted node", func(s *top.Screen) bool {
		pl := poolOf(s, id)
		return rowOf(s, id+"-1") == nil && pl != nil && pl.Nodes == 1
	})
	checkOneListOneWatch(t, rec.Requests(), rec.Statuses(), true)
	for _, r := range rec.Requests() {
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("top sent %s; it only reads", r)
		}
	}

	proxy.Close()
	await(ctx, t, live, "the lost API server", func(s *top.Screen) bool { return s.Connection.Lost })
	s := screenNow(live)
	if rowOf(s, "top-a-1") == nil || poolOf(s, "top-a") == nil || s.Karpenter.Leader != leader {
		t.Errorf("the last data is gone with the API server: %+v", s)
	}
}

// A kind the user may not read: its panel names the grant, the rest works.
func TestTopForbiddenKind(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	cluster(ctx, t)
	read := []string{"get", "list", "watch"}
	kc, err := env.RestrictedKubeconfig(ctx, "top-no-nodepools",
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes", "persistentvolumeclaims", "persistentvolumes"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "daemonsets"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses", "csinodes"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.sh"}, Resources: []string{"nodeclaims"}, Verbs: read},
		rbacv1.PolicyRule{APIGroups: []string{"karpenter.k8s.aws"}, Resources: []string{"ec2nodeclasses"}, Verbs: read},
	)
	if err != nil {
		t.Fatal(err)
	}
	r := e2e.Karpctl(ctx, t, kc, "top", "--once", "-o", "json")
	var s top.Screen
	r.Decode(t, &s)
	var panels []string
	for _, f := range s.Forbidden {
		panels = append(panels, f.Resource+"→"+f.Panel)
	}
	if r.Code != 0 || len(s.Forbidden) != 1 || s.Forbidden[0].Resource != "nodepools.karpenter.sh" || s.Forbidden[0].Panel != "nodepools" ||
		s.Forbidden[0].Grant != "grant list,watch on nodepools.karpenter.sh at cluster scope" {
		t.Errorf("exit %d, forbidden %v; want exit 0 and nodepools.karpenter.sh→nodepools with its grant", r.Code, panels)
	}
	if rowOf(&s, "top-a-1") == nil || s.Karpenter.Leader != leader {
		t.Errorf("the rest does not work: nodes %d, leader %q", len(s.Nodes), s.Karpenter.Leader)
	}
	text := e2e.Karpctl(ctx, t, kc, "top", "--once")
	if !strings.Contains(text.Stdout, "grant list,watch on nodepools.karpenter.sh at cluster scope") || !strings.Contains(text.Stdout, "top-a-1") {
		t.Errorf("the NodePools panel does not name the grant:\n%s", text.Stdout)
	}
}

// podWatchFaults ends the first pods watch when end is called, cleanly, as the API server does at
// a watch's timeout, and answers the watch that resumes it 410 Gone, as the API server does once
// etcd has compacted that revision.
type podWatchFaults struct {
	rt    http.RoundTripper
	n     atomic.Int32
	first atomic.Pointer[io.ReadCloser]
}

func (f *podWatchFaults) end() {
	if b := f.first.Load(); b != nil {
		(*b).Close()
	}
}

func (f *podWatchFaults) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/api/v1/pods" || r.URL.Query().Get("watch") != "true" {
		return f.rt.RoundTrip(r)
	}
	switch f.n.Add(1) {
	case 1:
		resp, err := f.rt.RoundTrip(r)
		if err == nil {
			f.first.Store(&resp.Body)
			resp.Body = endsClean{resp.Body}
		}
		return resp, err
	case 2:
		status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version","reason":"Expired","code":410}`
		return &http.Response{StatusCode: http.StatusGone, Status: "410 Gone", Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(status)), ContentLength: int64(len(status)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
	}
	return f.rt.RoundTrip(r)
}

// endsClean turns the error of a body closed under the reader into the end of the stream.
type endsClean struct{ io.ReadCloser }

func (b endsClean) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		err = io.EOF
	}
	return n, err
}

// A watch that ends resumes from its resourceVersion (no LIST); a 410 on that resumption relists
// once; changes keep reaching the screen.
func TestTopWatchResumes(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	cluster(ctx, t)
	faults := &podWatchFaults{}
	live, rec, _ := liveModel(ctx, t, func(rt http.RoundTripper) http.RoundTripper { faults.rt = rt; return faults })
	// Every kind has been read: the first watch has streamed its initial events. client-go takes a
	// watch that ends within a second with no event for a broken one and reads again: let it last.
	time.Sleep(1500 * time.Millisecond)
	faults.end()
	pods := func() (reqs []string, statuses []int) {
		st := rec.Statuses()
		for i, r := range rec.Requests() {
			if strings.HasPrefix(r, "GET /api/v1/pods?") {
				reqs, statuses = append(reqs, r), append(statuses, st[i])
			}
		}
		return reqs, statuses
	}
	for n := 0; n < 3; {
		select {
		case <-ctx.Done():
			t.Fatalf("pods requests: %v", rec.Requests())
		case <-time.After(50 * time.Millisecond):
		}
		r, _ := pods()
		n = len(r)
	}
	// Anything after the relist would be a repeated read.
	time.Sleep(2 * time.Second)
	reqs, statuses := pods()
	t.Logf("pods requests: %v (statuses %v)", reqs, statuses)
	initial := func(r string) bool {
		return strings.Contains(r, "sendInitialEvents=true") || !strings.Contains(r, "watch=true")
	}
	if len(reqs) != 3 || !initial(reqs[0]) || initial(reqs[1]) || !strings.Contains(reqs[1], "resourceVersion=") || statuses[1] != http.StatusGone || !initial(reqs[2]) {
		t.Errorf("pods requests %v (statuses %v); want the first read, a watch resumed from its resourceVersion answered 410, one relist", reqs, statuses)
	}
	name := fmt.Sprintf("resumed-%d", time.Now().UnixNano()%1000000)
	p := harness.PodObject(harness.PodSpec{Namespace: "shop", Name: name, Node: "top-a-1", CPU: "100m", Memory: "64Mi"})
	if _, err := env.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Pods("shop").Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})
	await(ctx, t, live, "a pod bound after the relist", func(s *top.Screen) bool {
		r := rowOf(s, "top-a-1")
		return r != nil && r.Usage["cpu"].Requested == 1.6
	})
}
