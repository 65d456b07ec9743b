package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/pager"
)

// fakeUpstream is an API server of three pods, paged one per page, counting what it serves.
func fakeUpstream(t *testing.T) (*Env, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		i, _ := strconv.Atoi(r.URL.Query().Get("continue"))
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "7"}}
		list.Items = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default"}}}
		if r.URL.Query().Get("limit") == "" {
			list.Items = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "pod-0"}}, {ObjectMeta: metav1.ObjectMeta{Name: "pod-1"}}, {ObjectMeta: metav1.ObjectMeta{Name: "pod-2"}}}
		} else if i < 2 {
			list.Continue = strconv.Itoa(i + 1)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	p, err := newPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	_, port, _ := net.SplitHostPort(u.Host)
	e := &Env{Dir: dir, pki: p, Config: &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}}
	e.apiPort, _ = strconv.Atoi(port)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["fake"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthority: p.path("ca.crt")}
	cfg.AuthInfos["fake"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["fake"] = &clientcmdapi.Context{Cluster: "fake", AuthInfo: "fake"}
	cfg.CurrentContext = "fake"
	e.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, e.Kubeconfig); err != nil {
		t.Fatal(err)
	}
	return e, &served
}

// Each fault reaches client-go as a real API server's would: retried where client-go retries (429
// and 503 with Retry-After), an error naming the request otherwise, a stalled request ends at the
// client's timeout, and a pager's list survives an expired continue token by listing again.
func TestFaultProxy(t *testing.T) {
	e, served := fakeUpstream(t)
	p, err := e.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 2 * time.Second
	c := kubernetes.NewForConfigOrDie(cfg)
	list := func() (int, error) {
		pods, err := c.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		return len(pods.Items), nil
	}
	paged := func() (int, error) {
		pg := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.CoreV1().Pods("default").List(ctx, o)
		})
		pg.PageSize = 1
		obj, _, err := pg.List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		items, err := meta.ExtractList(obj)
		return len(items), err
	}
	for _, tc := range []struct {
		fault   Fault
		read    func() (int, error)
		wantErr string // "" for the answer without the fault
	}{
		{Throttled, list, ""},
		{Unavailable, list, ""},
		{InternalError, list, "Internal error occurred"},
		{Reset, list, ""},                   // client-go retries a GET whose connection was reset
		{Truncated, list, "unexpected EOF"}, // client-go does not name the request: karpctl's own wrapping must
		{Stalled, list, "/api/v1/namespaces/default/pods"},
		{ExpiredContinue, paged, ""},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			p.Inject(tc.fault, 1, 1)
			before := served.Load()
			start := time.Now()
			n, err := tc.read()
			took := time.Since(start)
			if len(p.Hits()) != 1 {
				t.Fatalf("hits %v", p.Hits())
			}
			switch {
			case tc.wantErr == "" && (err != nil || n != 3):
				t.Fatalf("%d pods, %v; want the 3 pods without the fault", n, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("%d pods, error %v; want an error with %q", n, err, tc.wantErr)
			case took > 10*time.Second:
				t.Fatalf("took %s", took)
			}
			t.Logf("%s: %d pods, %v, %s, %d requests upstream", tc.fault, n, err, took.Round(time.Millisecond), served.Load()-before)
		})
	}
}
