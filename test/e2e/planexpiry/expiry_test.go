// End-to-end test of `kubectl karpctl plan` when a list's continue token expires between pages. It
// has a control plane of its own: the API server runs without a watch cache for pods, so that a
// paginated pod list is read from etcd page by page and an etcd compaction between two pages expires
// its continue token (410 Gone), as a long list in a large cluster sees.
package planexpiry

import (
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) {
	os.Exit(harness.Main(m, harness.Options{APIServerFlags: []string{"--watch-cache-sizes=pods#0"}}, &env))
}

func pod(ns, name, node, cpu string) *corev1.Pod {
	return harness.PodObject(harness.PodSpec{Namespace: ns, Name: name, Node: node, CPU: cpu, Memory: "256Mi"})
}

func plan(t *testing.T, r e2e.Result) []string {
	t.Helper()
	if r.Code != cli.ExitOK {
		t.Fatalf("exit %d:\n%s", r.Code, r.Stderr)
	}
	var rep engine.PlanReport
	r.Decode(t, &rep)
	var out []string
	for _, np := range rep.NodePools {
		for _, nc := range np.NodeClaims {
			out = append(out, np.Name+" "+nc.InstanceType+" "+strings.Join(nc.Pods, ","))
		}
	}
	for _, en := range rep.ExistingNodes {
		out = append(out, "existing "+en.Node+" "+strings.Join(en.Pods, ","))
	}
	return out
}

// The bound pods' list expires after its first page: it is read again in one request, as
// client-go's pager does, and the plan is the one of an undisturbed read.
func TestPlanRereadsAnExpiredList(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := sandbox.InstallCRDs(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.CreateReadyNodePool(ctx, dyn, "default", 0); err != nil {
		t.Fatal(err)
	}
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, "apps")
	b.Node(ctx, t, harness.NodeSpec{Name: "static", Zone: "test-zone-a", CPU: "4", NotKwok: true})
	for _, p := range []*corev1.Pod{pod("apps", "bound-0", "static", "1"), pod("apps", "bound-1", "static", "1"), pod("apps", "bound-2", "static", "1"),
		pod("apps", "pending-0", "", "3"), pod("apps", "pending-1", "", "500m")} {
		if _, err := env.Client.CoreV1().Pods("apps").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := plan(t, e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "apps", "-o", "json"))

	var compacted sync.Once
	var compactErr error
	wrap := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(req)
			if err == nil && isBoundPodsList(req.URL.Path+"?"+req.URL.RawQuery) && !strings.Contains(req.URL.RawQuery, "continue=") {
				compacted.Do(func() { _, compactErr = env.CompactEtcd(req.Context()) })
			}
			return resp, err
		})
	}
	r := e2e.KarpctlThrough(ctx, t, env.Kubeconfig, wrap, "plan", "-n", "apps", "-o", "json", "--chunk-size", "1")
	if compactErr != nil {
		t.Fatal(compactErr)
	}
	if got := plan(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("plan after the expired list:\n got %v\nwant %v", got, want)
	}
	var pages, full int
	for _, q := range r.Requests {
		if isBoundPodsList(q) {
			if strings.Contains(q, "limit=1") {
				pages++
			} else {
				full++
			}
		}
	}
	if pages != 2 || full != 1 {
		t.Errorf("bound pods read in %d pages and %d full lists; want the first page, the expired second, then one full list:\n%s", pages, full, strings.Join(r.Requests, "\n"))
	}
}

func isBoundPodsList(q string) bool {
	return strings.Contains(q, "/api/v1/pods?") && strings.Contains(q, "spec.nodeName%21%3D")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
