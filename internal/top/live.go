package top

import (
	"context"
	"sort"
	"sync/atomic"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/engine"
	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
)

// Options configure a Live model.
type Options struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Karpenter is the installation (nil, with KarpenterError, when it was not found).
	Karpenter        *discovery.Karpenter
	KarpenterError   string
	Cluster, Context string
	// Conn is fed by the clients' transport (nil: a fresh one, fed by the informers only).
	Conn *Conn
	// Settings are those of the cluster's Karpenter (its Deployment, read once when top starts):
	// every prediction runs Karpenter's code with them. nil: Karpenter's defaults.
	Settings *ksettings.Settings
	// Source gives the snapshot's NodePools their instance types (prices, plan, disrupt).
	Source func(*engine.Snapshot) (engine.InstanceTypeSource, error)
	// PredictInterval is the least time between two predictions.
	PredictInterval time.Duration
	// EngineVersion is the bundled Karpenter's version, for explanations.
	EngineVersion string
}

// Live is the model: informer caches, a change counter, and the last predictions.
type Live struct {
	opts  Options
	kinds *kinds
	// gen counts changes seen by any informer; changed is signalled (without blocking) on each.
	gen     atomic.Uint64
	changed chan struct{}
	preds   atomic.Pointer[Predictions]
	// predicting is set while a prediction runs.
	predicting atomic.Bool
	// requests carries the pods' requests from one screen to the next.
	requests RequestMemo
}

// New builds the model; nothing is read until Start.
func New(o Options) *Live {
	if o.Conn == nil {
		o.Conn = &Conn{}
	}
	if o.PredictInterval <= 0 {
		o.PredictInterval = 10 * time.Second
	}
	return &Live{opts: o, kinds: newKinds(o.Kube, o.Dynamic, o.Karpenter, o.Settings.Options().FeatureGates.NodeOverlay), changed: make(chan struct{}, 1)}
}

// Start runs every informer until ctx ends.
func (l *Live) Start(ctx context.Context) {
	for _, k := range l.kinds.all() {
		go k.run(ctx, l.opts.Conn, l.touch)
	}
}

func (l *Live) touch() {
	l.gen.Add(1)
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Changed is signalled after changes (several changes may share one signal).
func (l *Live) Changed() <-chan struct{} { return l.changed }

// Synced reports whether every kind has been read once (or is known to be unreadable).
func (l *Live) Synced() bool {
	for _, k := range l.kinds.all() {
		if !k.synced() {
			return false
		}
	}
	return true
}

// WaitSynced waits until Synced or ctx ends.
func (l *Live) WaitSynced(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !l.Synced() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Snapshot is the caches as an engine snapshot: the objects are the caches' own (the engine never
// modifies a snapshot), so building one copies only pointers.
func (l *Live) Snapshot() *engine.Snapshot {
	k := l.kinds
	snap := &engine.Snapshot{Live: true, Karpenter: l.opts.Settings}
	for _, p := range list[corev1.Pod](k.pods) {
		switch {
		case p.Spec.NodeName != "":
			snap.Pods = append(snap.Pods, p)
		case p.Status.Phase == corev1.PodPending:
			snap.PendingPods = append(snap.PendingPods, p)
		}
	}
	sort.Slice(snap.PendingPods, func(i, j int) bool {
		a, b := snap.PendingPods[i], snap.PendingPods[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	snap.Nodes = sorted(list[corev1.Node](k.nodes))
	snap.DaemonSets = list[appsv1.DaemonSet](k.daemonSets)
	snap.PersistentVolumeClaims = list[corev1.PersistentVolumeClaim](k.pvcs)
	snap.PersistentVolumes = list[corev1.PersistentVolume](k.pvs)
	snap.StorageClasses = list[storagev1.StorageClass](k.storageClasses)
	snap.CSINodes = list[storagev1.CSINode](k.csiNodes)
	snap.PodDisruptionBudgets = list[policyv1.PodDisruptionBudget](k.pdbs)
	snap.NodePools = list[karpv1.NodePool](k.nodePools)
	sort.Slice(snap.NodePools, func(i, j int) bool { return snap.NodePools[i].Name < snap.NodePools[j].Name })
	snap.NodeClaims = list[karpv1.NodeClaim](k.nodeClaims)
	snap.EC2NodeClasses = list[awsv1.EC2NodeClass](k.ec2NodeClasses)
	snap.NodeOverlays = list[v1alpha1.NodeOverlay](k.nodeOverlays)
	sort.Slice(snap.NodeOverlays, func(i, j int) bool { return snap.NodeOverlays[i].Name < snap.NodeOverlays[j].Name })
	for _, x := range k.all() {
		if x.optional != "" && x.forbidden.Load() {
			snap.Warnings = append(snap.Warnings, engine.Warning{Message: x.resource + " not read (forbidden: " + x.grant() + "): " + x.optional})
		}
	}
	return snap
}

func sorted(nodes []*corev1.Node) []*corev1.Node {
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	return nodes
}

// Forbidden lists the kinds the caller may not read.
func (l *Live) Forbidden() []Forbidden {
	var out []Forbidden
	for _, k := range l.kinds.all() {
		if k.forbidden.Load() {
			out = append(out, Forbidden{Resource: k.resource, Panel: k.panel, Grant: k.grant()})
		}
	}
	return out
}

// Input is what Build needs now, for view.
func (l *Live) Input(view View, now time.Time) Input {
	snap := l.Snapshot()
	in := Input{
		Cluster: l.opts.Cluster, Context: l.opts.Context, Snapshot: snap, Karpenter: l.opts.Karpenter,
		KarpenterError: l.opts.KarpenterError, Predictions: l.preds.Load(), Connection: l.opts.Conn.State(),
		Forbidden: l.Forbidden(), View: view, Now: now, Requests: &l.requests,
	}
	if view.PredictInterval == 0 {
		in.View.PredictInterval = l.opts.PredictInterval
	}
	if leases := list[coordinationv1.Lease](l.kinds.lease); len(leases) > 0 {
		in.Lease = leases[0]
	}
	if k := l.opts.Karpenter; k != nil && k.PodSelector != nil {
		for _, p := range list[corev1.Pod](l.kinds.pods) {
			if p.Namespace == k.Namespace && k.PodSelector.Matches(labelSet(p.Labels)) {
				in.KarpenterPods = append(in.KarpenterPods, *p)
			}
		}
		sort.Slice(in.KarpenterPods, func(i, j int) bool { return in.KarpenterPods[i].Name < in.KarpenterPods[j].Name })
	}
	return in
}
