package lease

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Cache holds what Read reads — the lease, Karpenter's pods and the nodes they run on — in informer
// caches, as kube-state-metrics does: one LIST and one WATCH per object set, whatever the number of
// readers. A watch that ends resumes from its last resourceVersion; one the API server has expired
// (410 Gone) relists once. Status answers from memory without a request.
//
// Each set is as narrow as Read's: the lease by name, the pods by the Deployment's selector in its
// namespace, each node by name (an informer per node a Karpenter pod runs on, started and stopped as
// the pods move), and with only --lease the holder's pod by name.
type Cache struct {
	c   kubernetes.Interface
	k   *discovery.Karpenter
	ctx context.Context

	lease, pods cache.SharedIndexInformer // nil when not used
	nodes       *byName                   // the nodes of the cached pods
	holderPods  *byName                   // only --lease: the holder's pod
	// ready is set once everything has synced: from then on a node informer started for a pod that
	// moved leaves that node out until it has listed it, as Read leaves out a node it cannot find.
	ready atomic.Bool
}

// NewCache starts the informers; they run until ctx ends. Status answers once they have synced.
func NewCache(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter) *Cache {
	ch := &Cache{c: c, k: k, ctx: ctx}
	ch.nodes = newByName(ctx, func(name string) cache.ListerWatcher {
		nodes := c.CoreV1().Nodes()
		return cache.ToListWatcherWithWatchListSemantics(nameListWatch(name,
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return nodes.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return nodes.Watch(ctx, o) }), c)
	}, &corev1.Node{})
	ch.holderPods = newByName(ctx, func(name string) cache.ListerWatcher {
		pods := c.CoreV1().Pods(k.LeaseNamespace)
		return cache.ToListWatcherWithWatchListSemantics(nameListWatch(name,
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return pods.Watch(ctx, o) }), c)
	}, &corev1.Pod{})
	ch.holderPods.onChange = ch.followNodes
	if !k.LeaderElectionDisabled {
		leases := c.CoordinationV1().Leases(k.LeaseNamespace)
		ch.lease = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(nameListWatch(k.LeaseName,
			func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return leases.List(ctx, o) },
			func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return leases.Watch(ctx, o) }), c),
			&coordinationv1.Lease{}, 0, cache.Indexers{})
		if k.Deployment == nil {
			ch.onChange(ch.lease, ch.followHolder)
		}
		go ch.lease.RunWithContext(ctx)
	}
	if k.PodSelector != nil {
		pods := c.CoreV1().Pods(k.Namespace)
		sel := k.PodSelector.String()
		ch.pods = cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.LabelSelector = sel
				return pods.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.LabelSelector = sel
				return pods.Watch(ctx, o)
			},
		}, c), &corev1.Pod{}, 0, cache.Indexers{})
		ch.onChange(ch.pods, ch.followNodes)
		go ch.pods.RunWithContext(ctx)
	}
	return ch
}

// nameListWatch lists and watches the one object called name.
func nameListWatch(name string, list func(context.Context, metav1.ListOptions) (runtime.Object, error), w func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return w(ctx, o)
		},
	}
}

// onChange calls f after every change inf sees.
func (ch *Cache) onChange(inf cache.SharedIndexInformer, f func()) {
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { f() }, UpdateFunc: func(_, _ any) { f() }, DeleteFunc: func(any) { f() },
	})
}

// followNodes keeps an informer on every node a cached pod runs on, and none on others.
func (ch *Cache) followNodes() { ch.nodes.set(discovery.NodeNames(ch.karpenterPods(ch.cachedLease()))) }

// followHolder keeps an informer on the lease holder's pod (only --lease was given).
func (ch *Cache) followHolder() {
	var names []string
	if l := ch.cachedLease(); l != nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
		host, _ := ParseIdentity(*l.Spec.HolderIdentity)
		names = []string{host}
	}
	ch.holderPods.set(names)
}

func (ch *Cache) cachedLease() *coordinationv1.Lease {
	if ch.lease == nil {
		return nil
	}
	o, ok, _ := ch.lease.GetStore().GetByKey(ch.k.LeaseNamespace + "/" + ch.k.LeaseName)
	if !ok {
		return nil
	}
	return o.(*coordinationv1.Lease)
}

// cachedPods are the pods Read would list, sorted by name as Read sorts them.
func (ch *Cache) cachedPods() []corev1.Pod {
	if ch.pods == nil {
		return nil
	}
	var out []corev1.Pod
	for _, o := range ch.pods.GetStore().List() {
		out = append(out, *o.(*corev1.Pod))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// karpenterPods are the pods Read would evaluate the lease l with: those listed by selector, or,
// with only --lease, the holder's pod when it exists.
func (ch *Cache) karpenterPods(l *coordinationv1.Lease) []corev1.Pod {
	pods := ch.cachedPods()
	if ch.k.Deployment == nil && l != nil && l.Spec.HolderIdentity != nil {
		host, _ := ParseIdentity(*l.Spec.HolderIdentity)
		if o := ch.holderPods.get(ch.k.LeaseNamespace, host); o != nil {
			pods = []corev1.Pod{*o.(*corev1.Pod)}
		}
	}
	return pods
}

// Synced reports whether every informer has listed what it follows: the lease, the pods, then the
// nodes of those pods (and with only --lease the holder's pod).
func (ch *Cache) Synced() bool {
	if ch.ready.Load() {
		return true
	}
	for _, inf := range []cache.SharedIndexInformer{ch.lease, ch.pods} {
		if inf != nil && !inf.HasSynced() {
			return false
		}
	}
	// The event handlers may not have run yet for the first list: follow what the stores hold now.
	if ch.k.Deployment == nil {
		if ch.followHolder(); !ch.holderPods.synced() {
			return false
		}
	}
	if ch.followNodes(); !ch.nodes.synced() {
		return false
	}
	ch.ready.Store(true)
	return true
}

// WaitForSync waits until Synced, or fails when ctx ends first.
func (ch *Cache) WaitForSync(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !ch.Synced() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reading lease %s/%s, Karpenter's pods and their nodes: %w", ch.k.LeaseNamespace, ch.k.LeaseName, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Status is Read's answer from the caches, without a request; an error until they have synced.
func (ch *Cache) Status(now time.Time) (Status, error) {
	if !ch.Synced() {
		return Status{}, fmt.Errorf("the caches of lease %s/%s, Karpenter's pods and nodes have not synced yet", ch.k.LeaseNamespace, ch.k.LeaseName)
	}
	in := Input{Namespace: ch.k.LeaseNamespace, Name: ch.k.LeaseName, Disabled: ch.k.LeaderElectionDisabled, Lease: ch.cachedLease(), Now: now}
	if d := ch.k.Deployment; d != nil {
		in.Replicas = discovery.DesiredReplicas(d)
	}
	in.Pods = ch.karpenterPods(in.Lease)
	in.Nodes = map[string]*corev1.Node{}
	for _, n := range discovery.NodeNames(in.Pods) {
		if o := ch.nodes.get("", n); o != nil {
			in.Nodes[n] = o.(*corev1.Node)
		}
	}
	return Evaluate(in), nil
}

// byName runs one informer per object name, for the names set last gave.
type byName struct {
	ctx   context.Context
	lw    func(name string) cache.ListerWatcher
	proto runtime.Object

	// onChange, when set, is called after every change of a followed object.
	onChange func()

	mu  sync.Mutex
	inf map[string]*named
}

type named struct {
	inf  cache.SharedIndexInformer
	stop context.CancelFunc
}

func newByName(ctx context.Context, lw func(string) cache.ListerWatcher, proto runtime.Object) *byName {
	return &byName{ctx: ctx, lw: lw, proto: proto, inf: map[string]*named{}}
}

// set starts informers for the names not yet followed and stops those of names no longer given.
func (b *byName) set(names []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
		if b.inf[n] != nil || n == "" {
			continue
		}
		ctx, stop := context.WithCancel(b.ctx)
		inf := cache.NewSharedIndexInformer(b.lw(n), b.proto.DeepCopyObject(), 0, cache.Indexers{})
		if f := b.onChange; f != nil {
			_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc: func(any) { f() }, UpdateFunc: func(_, _ any) { f() }, DeleteFunc: func(any) { f() },
			})
		}
		b.inf[n] = &named{inf: inf, stop: stop}
		go inf.RunWithContext(ctx)
	}
	for n, x := range b.inf {
		if !want[n] {
			x.stop()
			delete(b.inf, n)
		}
	}
}

func (b *byName) synced() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.inf {
		if !x.inf.HasSynced() {
			return false
		}
	}
	return true
}

// get is the cached object ns/name, nil when it does not exist or is not followed.
func (b *byName) get(ns, name string) any {
	b.mu.Lock()
	x := b.inf[name]
	b.mu.Unlock()
	if x == nil {
		return nil
	}
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	o, ok, _ := x.inf.GetStore().GetByKey(key)
	if !ok {
		return nil
	}
	return o
}
