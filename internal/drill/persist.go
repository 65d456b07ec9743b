package drill

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// persistent is the Client a drill puts the cluster back with: its reads, patches and deletes are
// retried while they fail for a reason a retry can cure (see transient). client-go retries only a
// 429 or 503 with Retry-After, and a broken connection only for reads; a restore must not give up on
// a single 500, a reset connection or a lost answer to a DELETE. Every call it retries is idempotent:
// the patches are merge patches, a delete that already happened answers NotFound, which the callers
// take as done.
type persistent struct{ Client }

// persistAttempts bounds the attempts of one call (about 16 s of backoff); the caller's context
// bounds them too.
const persistAttempts = 8

// persistBackoff is the first wait between attempts and the longest; each wait doubles the last.
var persistBackoff = [2]time.Duration{200 * time.Millisecond, 5 * time.Second}

// persist calls fn until it succeeds, fails for a reason a retry cannot cure, ctx ends or it was
// tried persistAttempts times, backing off by persistBackoff between attempts.
func persist(ctx context.Context, fn func() error) error {
	return persistIf(ctx, transient, fn)
}

// persistIf is persist retrying the errors retryable reports.
func persistIf(ctx context.Context, retryable func(error) bool, fn func() error) error {
	delay := persistBackoff[0]
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) || attempt == persistAttempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay = min(2*delay, persistBackoff[1])
	}
}

// transient reports whether err may pass on a retry: the API server throttled the request, was
// unavailable, failed internally or timed out, or the connection broke or timed out before the answer.
func transient(err error) bool {
	if err == nil || apierrors.IsNotFound(err) {
		// A 404 is an answer, also the "404 page not found" of a kind the cluster does not serve
		// (which client-go marks as an unexpected server response).
		return false
	}
	if apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) ||
		apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) {
		return true
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || utilnet.IsConnectionReset(err) ||
		utilnet.IsConnectionRefused(err) || utilnet.IsProbableEOF(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transientNotThrottled is transient without 429: an eviction's 429 is a PodDisruptionBudget's
// refusal, which the drill handles itself.
func transientNotThrottled(err error) bool {
	return transient(err) && !apierrors.IsTooManyRequests(err)
}

func (p persistent) Lease(ctx context.Context, ns, name string) (l *coordinationv1.Lease, err error) {
	err = persist(ctx, func() error { l, err = p.Client.Lease(ctx, ns, name); return err })
	return l, err
}

func (p persistent) DeleteLease(ctx context.Context, ns, name string, uid types.UID) error {
	return persist(ctx, func() error { return p.Client.DeleteLease(ctx, ns, name, uid) })
}

func (p persistent) Pods(ctx context.Context, ns, selector string) (l *corev1.PodList, err error) {
	err = persist(ctx, func() error { l, err = p.Client.Pods(ctx, ns, selector); return err })
	return l, err
}

func (p persistent) DeletePod(ctx context.Context, ns, pod string, grace int64) error {
	return persist(ctx, func() error { return p.Client.DeletePod(ctx, ns, pod, grace) })
}

func (p persistent) Nodes(ctx context.Context, selector string) (l []corev1.Node, err error) {
	err = persist(ctx, func() error { l, err = p.Client.Nodes(ctx, selector); return err })
	return l, err
}

func (p persistent) Node(ctx context.Context, name string) (n *corev1.Node, err error) {
	err = persist(ctx, func() error { n, err = p.Client.Node(ctx, name); return err })
	return n, err
}

func (p persistent) PatchNode(ctx context.Context, name string, mergePatch []byte) error {
	return persist(ctx, func() error { return p.Client.PatchNode(ctx, name, mergePatch) })
}

func (p persistent) DeleteNode(ctx context.Context, name string) error {
	return persist(ctx, func() error { return p.Client.DeleteNode(ctx, name) })
}

func (p persistent) NodePools(ctx context.Context) (l []*karpv1.NodePool, err error) {
	err = persist(ctx, func() error { l, err = p.Client.NodePools(ctx); return err })
	return l, err
}

func (p persistent) NodeClaims(ctx context.Context, selector string) (l []karpv1.NodeClaim, rv string, err error) {
	err = persist(ctx, func() error { l, rv, err = p.Client.NodeClaims(ctx, selector); return err })
	return l, rv, err
}

func (p persistent) DeleteNodeClaim(ctx context.Context, name string) error {
	return persist(ctx, func() error { return p.Client.DeleteNodeClaim(ctx, name) })
}

func (p persistent) Events(ctx context.Context, ns, fieldSelector string) (l *corev1.EventList, err error) {
	err = persist(ctx, func() error { l, err = p.Client.Events(ctx, ns, fieldSelector); return err })
	return l, err
}
