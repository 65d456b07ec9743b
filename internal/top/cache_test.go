package top

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// A watch's stream that breaks off marks the connection lost; one that ends, or that the caller
// closes, does not; the next answer clears it.
func TestConnSeesABrokenStream(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "{}\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/break" {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}
	}))
	defer srv.Close()
	conn := &Conn{}
	client := &http.Client{Transport: conn.Wrap(http.DefaultTransport)}
	get := func(path string) {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	get("/end")
	if conn.State().Lost {
		t.Fatalf("a stream that ended marked the connection lost: %+v", conn.State())
	}
	get("/break")
	if s := conn.State(); !s.Lost || s.Error == "" || s.Since == nil {
		t.Fatalf("a stream that broke off: %+v, want lost", s)
	}
	get("/end")
	if conn.State().Lost {
		t.Fatal("an answer does not clear the failure")
	}
	resp, err := client.Get(srv.URL + "/end")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, _ = resp.Body.Read(make([]byte, 8))
	if conn.State().Lost {
		t.Fatal("a read after the caller closed the body marked the connection lost")
	}
}

// After the API server said a kind is forbidden (or, for an optional kind, not served), the
// reflector's LIST that follows a failed watch-list gets the same answer without a request.
func TestGateAsksOnce(t *testing.T) {
	gr := schema.GroupResource{Group: "karpenter.sh", Resource: "nodepools"}
	for _, tc := range []struct {
		name     string
		optional string
		err      error
		calls    int
	}{
		{"forbidden", "", apierrors.NewForbidden(gr, "", errors.New("no")), 1},
		{"not served, optional", "x", apierrors.NewNotFound(gr, ""), 1},
		{"not served, needed", "", apierrors.NewNotFound(gr, ""), 2},
		{"unavailable", "", apierrors.NewServiceUnavailable("later"), 2},
	} {
		calls := 0
		lw := &cache.ListWatch{
			ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
				calls++
				return nil, tc.err
			},
			WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
				calls++
				return nil, tc.err
			},
		}
		k := &kind{optional: tc.optional}
		g := k.gate(lw)
		_, werr := g.WatchWithContext(context.Background(), metav1.ListOptions{})
		_, lerr := g.ListWithContext(context.Background(), metav1.ListOptions{})
		if calls != tc.calls || werr == nil || lerr == nil || werr.Error() != lerr.Error() {
			t.Errorf("%s: %d requests (want %d), watch %v, list %v", tc.name, calls, tc.calls, werr, lerr)
		}
	}
}
