package top

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// kind is one informer: one LIST (or watch-list) and one WATCH of one resource, resumed from its
// resourceVersion by client-go's reflector; a 410 relists once.
type kind struct {
	// resource names it for RBAC ("pods", "nodepools.karpenter.sh"); panel is what lacks it.
	resource, panel string
	// scope is "cluster scope" or "namespace NS".
	scope string
	// optional is what the predictions lose without it ("" for a kind top cannot do without).
	optional string
	informer cache.SharedIndexInformer

	stop     chan struct{}
	stopOnce sync.Once
	// refusal is the API server's answer that the kind is forbidden or not served, once given.
	refusal   atomic.Pointer[error]
	forbidden atomic.Bool
	// absent: the cluster does not serve the kind (an optional CRD).
	absent atomic.Bool
}

// listWatch builds a kind's ListerWatcher from typed list and watch calls with fixed options.
func listWatch[L runtime.Object](sel metav1.ListOptions, list func(context.Context, metav1.ListOptions) (L, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	with := func(o metav1.ListOptions) metav1.ListOptions {
		o.FieldSelector, o.LabelSelector = sel.FieldSelector, sel.LabelSelector
		return o
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return list(ctx, with(o))
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return w(ctx, with(o))
		},
	}
}

func newKind(resource, panel, scope, optional string, lw cache.ListerWatcher, example runtime.Object, transform cache.TransformFunc) *kind {
	k := &kind{resource: resource, panel: panel, scope: scope, optional: optional, stop: make(chan struct{})}
	k.informer = cache.NewSharedIndexInformerWithOptions(k.gate(cache.ToListerWatcherWithContext(lw)), example, cache.SharedIndexInformerOptions{})
	if transform == nil {
		transform = stripManagedFields
	}
	_ = k.informer.SetTransform(transform)
	return k
}

// gate asks the API server once whether the kind may be read: after a 403 or (for an optional
// kind) a 404, the next call gets the same answer without a request. client-go's reflector follows
// a watch-list that failed with a LIST, which would ask again.
func (k *kind) gate(lw cache.ListerWatcherWithContext) *cache.ListWatch {
	check := func(err error) error {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || (apierrors.IsNotFound(err) && k.optional != "") {
			k.refusal.Store(&err)
		}
		return err
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			if p := k.refusal.Load(); p != nil {
				return nil, *p
			}
			obj, err := lw.ListWithContext(ctx, o)
			return obj, check(err)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			if p := k.refusal.Load(); p != nil {
				return nil, *p
			}
			w, err := lw.WatchWithContext(ctx, o)
			return w, check(err)
		},
	}
}

// stripManagedFields drops what top never reads and takes much of an object's memory.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			delete(a, corev1.LastAppliedConfigAnnotation)
		}
	}
	return obj, nil
}

// grant is the RBAC rule that lets top read the kind.
func (k *kind) grant() string {
	return fmt.Sprintf("grant list,watch on %s at %s", k.resource, k.scope)
}

// synced reports whether the kind has been read, or will never be (forbidden, not served).
func (k *kind) synced() bool {
	return k.informer.HasSynced() || k.forbidden.Load() || k.absent.Load()
}

// run runs the informer until ctx ends or the kind turns out forbidden or not served: a
// reflector would retry those with LISTs forever.
func (k *kind) run(ctx context.Context, conn *Conn, onChange func()) {
	_ = k.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		switch {
		case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
			k.forbidden.Store(true)
			k.halt()
			onChange()
		case apierrors.IsNotFound(err) && k.optional != "":
			k.absent.Store(true)
			k.halt()
			onChange()
		case apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || errors.Is(err, context.Canceled):
		default:
			conn.Failed(err)
			onChange()
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	_, _ = k.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(any, any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	})
	go func() {
		select {
		case <-ctx.Done():
			k.halt()
		case <-k.stop:
		}
	}()
	k.informer.Run(k.stop)
}

func (k *kind) halt() { k.stopOnce.Do(func() { close(k.stop) }) }

// list returns the informer's objects as T.
func list[T any](k *kind) []*T {
	if k == nil || k.forbidden.Load() || k.absent.Load() {
		return nil
	}
	items := k.informer.GetStore().List()
	out := make([]*T, 0, len(items))
	for _, o := range items {
		if t, ok := o.(*T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Conn tracks whether the API server answers: every response clears a failure, every transport
// error or failed watch sets one.
type Conn struct {
	mu    sync.Mutex
	state Connection
}

// Failed records a failure.
func (c *Conn) Failed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.state.Lost {
		now := time.Now()
		c.state.Since = &now
	}
	c.state.Lost, c.state.Error = true, err.Error()
}

// Answered records a response.
func (c *Conn) Answered() {
	c.mu.Lock()
	c.state = Connection{}
	c.mu.Unlock()
}

// State is the current state.
func (c *Conn) State() Connection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Wrap is a rest.Config transport wrapper that feeds c: a response (below 500) clears a failure;
// a transport error, a 5xx or a response body (a watch's stream) that breaks sets one, so that a
// connection lost while only watches are open shows at once.
func (c *Conn) Wrap(rt http.RoundTripper) http.RoundTripper { return connTransport{c: c, rt: rt} }

type connTransport struct {
	c  *Conn
	rt http.RoundTripper
}

func (t connTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	switch {
	case err != nil && r.Context().Err() == nil:
		t.c.Failed(err)
	case err != nil:
	case resp.StatusCode >= http.StatusInternalServerError:
		t.c.Failed(fmt.Errorf("%s %s: %s", r.Method, r.URL.Path, resp.Status))
	default:
		t.c.Answered()
		resp.Body = &connBody{ReadCloser: resp.Body, c: t.c, ctx: r.Context()}
	}
	return resp, err
}

// connBody reports a body that breaks off as a failure: not its end, nor a read after the caller
// closed it or gave up.
type connBody struct {
	io.ReadCloser
	c      *Conn
	ctx    context.Context
	closed atomic.Bool
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !b.closed.Load() && b.ctx.Err() == nil {
		b.c.Failed(err)
	}
	return n, err
}

func (b *connBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}
