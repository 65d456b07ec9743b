package drill

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// An eviction the API server first answers 429 with Retry-After is retried by client-go; lastSent
// sees both attempts, and retried is the wait between them.
func TestLastSentSeesClientGoRetry(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"TooManyRequests","code":429}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Success","code":201}`))
	}))
	defer srv.Close()
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := &lastSent{}
	if err := (Kube{C: c}).Evict(s.trace(context.Background()), "karpenter", "karpenter-0"); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 || s.retried() < 900*time.Millisecond || s.retried() > 5*time.Second {
		t.Fatalf("%d attempts, retried %s; want 2 attempts about 1s apart", n.Load(), s.retried())
	}
	one := &lastSent{}
	if err := (Kube{C: c}).Evict(one.trace(context.Background()), "karpenter", "karpenter-1"); err != nil || one.retried() != 0 {
		t.Fatalf("one attempt: err %v, retried %s", err, one.retried())
	}
}
