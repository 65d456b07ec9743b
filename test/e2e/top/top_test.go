// End-to-end tests of `kubectl karpctl top` on a real kube-apiserver with Karpenter's CRDs: the
// snapshot's numbers, one LIST and one WATCH per kind, changes appearing while it runs, a lost API
// server, RBAC that forbids a kind and bad flags.
package top

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/engine/catalog"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) {
	if os.Getenv(e2e.RunKarpctlEnv) != "" {
		os.Exit(commands.Main(append([]string{"kubectl-karpctl"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(harness.Main(m, harness.Options{}, &env))
}

var (
	once     sync.Once
	setupErr error
	dyn      dynamic.Interface
	leader   string
)

const (
	instanceType = "c-4x-amd64-linux"
	zone         = "test-zone-a"
)

// cluster builds, once per package, a cluster in motion: Karpenter (two replicas, one leading),
// NodePools top-a (two nodes, one cordoned, one busy) and top-b (weight 10, a do-not-disrupt
// node), and a pending pod.
func cluster(ctx context.Context, t testing.TB) {
	t.Helper()
	harness.Need(t, env)
	once.Do(func() { setupErr = build(ctx, t) })
	if setupErr != nil {
		t.Fatal(setupErr)
	}
}

func build(ctx context.Context, t testing.TB) error {
	var err error
	if dyn, err = dynamic.NewForConfig(env.Config); err != nil {
		return err
	}
	if err := sandbox.InstallCRDs(ctx, dyn); err != nil {
		return err
	}
	for name, weight := range map[string]int64{"top-a": 0, "top-b": 10} {
		if err := sandbox.CreateReadyNodePool(ctx, dyn, name, weight); err != nil {
			return err
		}
	}
	b := harness.NewBuilder(env.Client)
	karp := func(pool string) map[string]string {
		return map[string]string{karpv1.NodePoolLabelKey: pool, corev1.LabelInstanceTypeStable: instanceType, karpv1.CapacityTypeLabelKey: "on-demand"}
	}
	for _, s := range []harness.NodeSpec{
		{Name: "sys-a", Zone: zone, NotKwok: true}, {Name: "sys-b", Zone: "test-zone-b", NotKwok: true},
		{Name: "top-a-1", Zone: zone, Labels: karp("top-a"), NotKwok: true},
		{Name: "top-a-2", Zone: zone, Labels: karp("top-a"), NotKwok: true, Unschedulable: true},
		{Name: "top-b-1", Zone: zone, Labels: karp("top-b"), NotKwok: true},
	} {
		if _, err := b.CreateNode(ctx, s); err != nil {
			return err
		}
	}
	n, err := env.Client.CoreV1().Nodes().Get(ctx, "top-b-1", metav1.GetOptions{})
	if err != nil {
		return err
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[karpv1.DoNotDisruptAnnotationKey] = "true"
	if _, err := env.Client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		return err
	}
	pods := b.Karpenter(ctx, t, harness.KarpenterSpec{Namespace: "karpenter"}, "sys-a", "sys-b")
	leader = pods[0].Name
	now := metav1.NewMicroTime(time.Now())
	if _, err := env.Client.CoordinationV1().Leases("karpenter").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(leader + "_0b8c"), LeaseDurationSeconds: ptr.To[int32](3600), AcquireTime: &now, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	b.Namespace(ctx, t, "shop")
	for _, p := range []harness.PodSpec{
		{Namespace: "shop", Name: "web-1", Node: "top-a-1", CPU: "1", Memory: "1Gi"},
		{Namespace: "shop", Name: "web-2", Node: "top-a-1", CPU: "500m", Memory: "1Gi"},
		{Namespace: "shop", Name: "db-1", Node: "top-b-1", CPU: "2", Memory: "4Gi"},
		{Namespace: "shop", Name: "waiting", CPU: "1", Memory: "1Gi"},
	} {
		if _, err := env.Client.CoreV1().Pods(p.Namespace).Create(ctx, harness.PodObject(p), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return nil
}

func kwokPrice(t testing.TB) float64 {
	t.Helper()
	cat, err := catalog.Named(catalog.Kwok)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range cat.KarpenterInstanceTypes() {
		if it.Name != instanceType {
			continue
		}
		for _, o := range it.Offerings {
			if o.Zone() == zone && o.CapacityType() == karpv1.CapacityTypeOnDemand {
				return o.Price
			}
		}
	}
	t.Fatalf("no %s on-demand offering in %s in the kwok catalog", instanceType, zone)
	return 0
}

func rowOf(s *top.Screen, name string) *top.NodeRow {
	for i := range s.Nodes {
		if s.Nodes[i].Name == name {
			return &s.Nodes[i]
		}
	}
	return nil
}

func poolOf(s *top.Screen, name string) *top.NodePoolRow {
	for i := range s.NodePools {
		if s.NodePools[i].Name == name {
			return &s.NodePools[i]
		}
	}
	return nil
}

// The snapshot shows the leader, each NodePool and node with the right numbers and the plan for
// the pending pod, reading every kind with one LIST and one WATCH at most.
func TestTopOnceNumbers(t *testing.T) {
	ctx := e2e.Context(t, 3*time.Minute)
	cluster(ctx, t)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "-o", "json", "--resources", "cpu,memory")
	if r.Code != 0 {
		t.Fatalf("exit %d", r.Code)
	}
	var s top.Screen
	r.Decode(t, &s)
	if s.Karpenter.Leader != leader || s.Karpenter.Lease == nil || s.Karpenter.Lease.Verdict != "Healthy" || s.Karpenter.Version != "1.15.0" {
		t.Errorf("karpenter = %+v, want leader %s, Healthy, 1.15.0", s.Karpenter, leader)
	}
	price := kwokPrice(t)
	a1, a2, b1 := rowOf(&s, "top-a-1"), rowOf(&s, "top-a-2"), rowOf(&s, "top-b-1")
	if a1 == nil || a2 == nil || b1 == nil {
		t.Fatalf("nodes missing: %+v", s.Nodes)
	}
	if u := a1.Usage["cpu"]; u.Requested != 1.5 || u.Allocatable != 4 || a1.Pods != 2 || a1.PricePerHour == nil || *a1.PricePerHour != price {
		t.Errorf("top-a-1 = %+v cpu %+v, want 1.5/4 cpu, 2 pods, $%v/h", a1, u, price)
	}
	if u := a1.Usage["memory"]; u.Requested != 2*(1<<30) || u.Allocatable != 16*(1<<30) {
		t.Errorf("top-a-1 memory = %+v, want 2Gi/16Gi", u)
	}
	if !a2.Cordoned || !b1.DoNotDisrupt || a1.Cordoned || a1.InstanceType != instanceType || a1.Zone != zone || a1.CapacityType != "on-demand" {
		t.Errorf("marks: top-a-1 %+v top-a-2 %+v top-b-1 %+v", a1, a2, b1)
	}
	pa, pb := poolOf(&s, "top-a"), poolOf(&s, "top-b")
	if pa == nil || pb == nil || pa.Nodes != 2 || pb.Nodes != 1 || pa.Usage["cpu"].Requested != 1.5 || pa.Usage["cpu"].Allocatable != 8 {
		t.Fatalf("NodePools = %+v", s.NodePools)
	}
	if pa.PricePerHour != 2*price || pb.PricePerHour != price || s.NodePools[0].Name != "top-b" {
		t.Errorf("NodePool prices %v %v (want %v, %v) or order %s first (want top-b, weight 10)", pa.PricePerHour, pb.PricePerHour, 2*price, price, s.NodePools[0].Name)
	}
	if s.PricePerHour < 3*price-1e-9 {
		t.Errorf("cluster cost %v/h, want at least the three nodes' %v", s.PricePerHour, 3*price)
	}
	var waiting *top.PendingPod
	for i := range s.Pending {
		if s.Pending[i].Name == "waiting" {
			waiting = &s.Pending[i]
		}
	}
	if waiting == nil || waiting.Plan == "" {
		t.Errorf("pending = %+v, want shop/waiting with its plan", s.Pending)
	}
	if l := s.Next.Launch; l == nil || l.Error != "" || l.PendingPods < 1 || l.NewNodeClaims+l.OnExisting < 1 || s.Next.Disrupt == nil || s.Next.Disrupt.Error != "" {
		t.Errorf("next = %+v %+v", s.Next.Launch, s.Next.Disrupt)
	}
	r.OnlyReads(t)
	checkOneListOneWatch(t, r.RequestsTo(env.Server()), r.StatusesTo(env.Server()), false)
}

// checkOneListOneWatch checks that each resource was listed once and watched once at most (a
// watch-list counts as both) and, when running, that every kind was watched. statuses, when
// known, are the responses' codes: a request answered 429 is the API server asking the client to
// send it again (Retry-After, e.g. while a watch cache initializes), so the retry is not counted
// twice.
func checkOneListOneWatch(t testing.TB, reqs []string, statuses []int, watched bool) {
	t.Helper()
	lists, watches := map[string]int{}, map[string]int{}
	for i, r := range reqs {
		if i < len(statuses) && statuses[i] == http.StatusTooManyRequests {
			t.Logf("retry asked by the API server: %s", r)
			continue
		}
		path, query, _ := strings.Cut(strings.TrimPrefix(r, "GET "), "?")
		if strings.Contains(path, "/deployments") || !strings.HasPrefix(r, "GET ") || strings.HasPrefix(path, "/api?") || path == "/api" || path == "/apis" {
			continue
		}
		if strings.Contains(query, "watch=true") {
			watches[path]++
			if strings.Contains(query, "sendInitialEvents=true") {
				lists[path]++
			}
		} else {
			lists[path]++
		}
	}
	for path, n := range lists {
		if n != 1 {
			t.Errorf("%s listed %d times, want once", path, n)
		}
	}
	for path, n := range watches {
		if n > 1 {
			t.Errorf("%s watched %d times, want once", path, n)
		}
	}
	if watched {
		for _, path := range []string{"/api/v1/pods", "/api/v1/nodes", "/apis/karpenter.sh/v1/nodepools", "/apis/karpenter.sh/v1/nodeclaims"} {
			if watches[path] == 0 {
				t.Errorf("%s is not watched", path)
			}
		}
	}
	if len(lists) < 10 {
		t.Errorf("only %d kinds listed: %v", len(lists), reqs)
	}
	t.Logf("lists %v\nwatches %v", lists, watches)
}

func TestTopBadInput(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	for _, args := range [][]string{{"--resources", "cpux"}, {"--sort", "size"}, {"-l", "a=b=c"}, {"-l", "a in (b"}, {"-l", "Bad Key=1"}, {"--predict-interval", "0s"}} {
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"top", "--once"}, args...)...)
		if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.HasPrefix(r.Stderr, "error: ") || len(r.Requests) != 0 {
			t.Errorf("top %v: exit %d, %d requests, stderr %q; want exit 2, one line, nothing sent", args, r.Code, len(r.Requests), r.Stderr)
		}
	}
}

// -l is parsed as kubectl's -l is (by the API server's selector parser): "a==" is the selector
// a == "", which kubectl accepts and which no node here matches.
func TestTopSelectorAsKubectl(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	cluster(ctx, t)
	if _, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "a=="}); err != nil {
		t.Fatalf("the API server rejects -l a==: %v", err)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "-o", "json", "-l", "a==")
	var s top.Screen
	r.Decode(t, &s)
	if r.Code != 0 || len(s.Nodes) != 0 {
		t.Errorf("top -l a==: exit %d, %d nodes; want exit 0 and none (no node has the label a with an empty value)", r.Code, len(s.Nodes))
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "top", "--once", "-o", "json", "-l", "karpenter.sh/nodepool in (top-a),node.kubernetes.io/instance-type=="+instanceType)
	r.Decode(t, &s)
	if r.Code != 0 || len(s.Nodes) != 2 || rowOf(&s, "top-a-1") == nil || rowOf(&s, "top-a-2") == nil {
		t.Errorf("top -l 'karpenter.sh/nodepool in (top-a),…==%s': exit %d, nodes %+v; want top-a-1 and top-a-2", instanceType, r.Code, s.Nodes)
	}
}
