package drill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransient(t *testing.T) {
	gr := schema.GroupResource{Resource: "nodes"}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{apierrors.NewInternalError(errAPI), true},
		{apierrors.NewTooManyRequests("slow down", 1), true},
		{apierrors.NewServiceUnavailable("shutting down"), true},
		{apierrors.NewTimeoutError("timed out", 1), true},
		// client-go's error for an answer cut short.
		{fmt.Errorf("unexpected error when reading response body. Please retry. Original error: %w", io.ErrUnexpectedEOF), true},
		{&url.Error{Op: "Delete", URL: "https://127.0.0.1", Err: syscall.ECONNRESET}, true},
		{&url.Error{Op: "Get", URL: "https://127.0.0.1", Err: context.DeadlineExceeded}, true},
		{fmt.Errorf("patching node n: %w", apierrors.NewForbidden(gr, "n", errAPI)), false},
		{apierrors.NewNotFound(gr, "n"), false},
		// What a cluster without Karpenter's CRDs answers a NodeClaim list with.
		{apierrors.NewGenericServerResponse(404, "get", schema.GroupResource{Group: "karpenter.sh", Resource: "nodeclaims"}, "", "404 page not found", 0, true), false},
		{apierrors.NewConflict(gr, "n", errAPI), false},
		{apierrors.NewBadRequest("bad patch"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// persist stops at the first lasting error, at success, after persistAttempts, and when its context
// ends.
func TestPersist(t *testing.T) {
	calls := 0
	err := persist(context.Background(), func() error { calls++; return apierrors.NewBadRequest("no") })
	if !apierrors.IsBadRequest(err) || calls != 1 {
		t.Fatalf("lasting error: %v after %d calls", err, calls)
	}
	calls = 0
	err = persist(context.Background(), func() error {
		if calls++; calls < 3 {
			return syscall.ECONNRESET
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("cured: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	calls = 0
	err = persist(ctx, func() error { calls++; return apierrors.NewInternalError(errAPI) })
	if !apierrors.IsInternalError(err) || calls < 2 || calls > 4 || ctx.Err() == nil {
		t.Fatalf("context ended: %v after %d calls", err, calls)
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal(ctx.Err())
	}
}
