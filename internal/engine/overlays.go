package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/samber/lo"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/apis/v1alpha1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/cloudprovider/overlay"
	"sigs.k8s.io/karpenter/pkg/controllers/nodeoverlay"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/controllers/state"
	"sigs.k8s.io/karpenter/pkg/operator/options"
	"sigs.k8s.io/karpenter/pkg/scheduling"
)

// overlays is how a simulation applies NodeOverlays: as Karpenter's binary wires them, the
// provider's instance types go through overlay.Decorate, whose InstanceTypeStore Karpenter's own
// nodeoverlay controller fills (one Reconcile over the snapshot's NodeOverlays and NodePools).
type overlays struct {
	store *nodeoverlay.InstanceTypeStore
	// undecorated is the provider without overlays: what the cloud provider prices a launch with.
	undecorated cloudprovider.CloudProvider
	list        []*v1alpha1.NodeOverlay
	cache       map[string]*overlayCache
}

// decorate returns the provider Karpenter schedules with: cp itself when the NodeOverlay gate is off
// or the snapshot has no NodeOverlay (a warning says overlays are ignored with the gate off), else
// cp decorated with Karpenter's overlay store. The overlays are added to the client for the
// controller's List.
func decorate(ctx context.Context, c *snapshotClient, cp cloudprovider.CloudProvider, list []*v1alpha1.NodeOverlay) (cloudprovider.CloudProvider, *overlays, []Warning, error) {
	if len(list) == 0 {
		return cp, nil, nil, nil
	}
	if !options.FromContext(ctx).FeatureGates.NodeOverlay {
		names := lo.Map(list, func(o *v1alpha1.NodeOverlay, _ int) string { return o.Name })
		sort.Strings(names)
		return cp, nil, []Warning{{Message: fmt.Sprintf("NodeOverlays %s ignored: Karpenter runs with the NodeOverlay feature gate off and ignores them (--karpenter-setting FEATURE_GATES=NodeOverlay=true plans with them)", strings.Join(names, ", "))}}, nil
	}
	for _, o := range list {
		if err := c.add(o); err != nil {
			return nil, nil, nil, fmt.Errorf("snapshot: %w", err)
		}
	}
	ov := &overlays{store: nodeoverlay.NewInstanceTypeStore(), undecorated: cp, list: list}
	return overlay.Decorate(cp, c, ov.store), ov, nil, nil
}

// reconcile runs Karpenter's nodeoverlay controller once: it validates every overlay (runtime
// validation, conflicts between overlays of equal weight) and fills the store. Its status writes
// are discarded. Overlays it rejects are warnings.
func (ov *overlays) reconcile(ctx context.Context, c *snapshotClient, cluster *state.Cluster, warnings []Warning) ([]Warning, error) {
	if ov == nil {
		return warnings, nil
	}
	sc := &statusRecorder{snapshotClient: c}
	ctrl := nodeoverlay.NewController(clock.RealClock{}, sc, ov.undecorated, ov.store, cluster)
	if _, err := ctrl.Reconcile(ctx, reconcile.Request{}); err != nil {
		return nil, fmt.Errorf("karpenter nodeoverlay controller: %w", err)
	}
	for _, o := range sc.overlays {
		if cond := o.StatusConditions().Get(v1alpha1.ConditionTypeValidationSucceeded); cond != nil && cond.IsFalse() {
			warnings = append(warnings, Warning{Message: fmt.Sprintf("NodeOverlay %s not applied, as Karpenter rejects it: %s: %s", o.Name, cond.Reason, cond.Message)})
		}
	}
	return warnings, nil
}

// statusRecorder is the snapshot client for Karpenter's nodeoverlay controller: the NodeOverlay
// statuses it writes are kept in memory (the cluster is never written) to tell which it rejected.
type statusRecorder struct {
	*snapshotClient
	overlays []*v1alpha1.NodeOverlay
}

func (s *statusRecorder) Status() client.SubResourceWriter { return statusWriter{s} }

type statusWriter struct{ s *statusRecorder }

func (w statusWriter) Create(context.Context, client.Object, client.Object, ...client.SubResourceCreateOption) error {
	return errReadOnly
}
func (w statusWriter) Update(ctx context.Context, o client.Object, _ ...client.SubResourceUpdateOption) error {
	return w.Patch(ctx, o, nil)
}
func (w statusWriter) Patch(_ context.Context, o client.Object, _ client.Patch, _ ...client.SubResourcePatchOption) error {
	if no, ok := o.(*v1alpha1.NodeOverlay); ok {
		w.s.overlays = append(w.s.overlays, no.DeepCopy())
		return nil
	}
	return errReadOnly
}
func (w statusWriter) Apply(context.Context, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
	return errReadOnly
}

// OverlayMark says that NodeOverlays changed an instance type Karpenter scheduled with.
type OverlayMark struct {
	// Overlays name the NodeOverlays whose requirements select the instance type in the NodePool.
	Overlays []string `json:"overlays"`
	// Price: an overlay changed its offerings' prices; Capacity: its capacity.
	Price    bool `json:"price"`
	Capacity bool `json:"capacity"`
}

// marks compares a NodePool's instance types with and without overlays: the types whose price or
// capacity Karpenter's store changed, with the overlays that select them.
func (ov *overlays) marks(ctx context.Context, np *karpv1.NodePool, decorated []*cloudprovider.InstanceType) map[string]*OverlayMark {
	if ov == nil {
		return nil
	}
	plain, err := ov.undecorated.GetInstanceTypes(ctx, np)
	if err != nil {
		return nil
	}
	byName := lo.SliceToMap(plain, func(it *cloudprovider.InstanceType) (string, *cloudprovider.InstanceType) { return it.Name, it })
	out := map[string]*OverlayMark{}
	for _, it := range decorated {
		p := byName[it.Name]
		if p == nil {
			continue
		}
		m := &OverlayMark{Capacity: !equality.Semantic.DeepEqual(p.Capacity, it.Capacity)}
		for i := range it.Offerings {
			if i < len(p.Offerings) && p.Offerings[i].Price != it.Offerings[i].Price {
				m.Price = true
			}
		}
		if !m.Price && !m.Capacity {
			continue
		}
		reqs := scheduling.NewRequirements(scheduling.NewRequirement(karpv1.NodePoolLabelKey, corev1.NodeSelectorOpIn, np.Name))
		reqs.Add(scheduling.NewLabelRequirements(np.Spec.Template.Labels).Values()...)
		reqs.Add(it.Requirements.Values()...)
		for _, o := range ov.list {
			or := scheduling.NewNodeSelectorRequirements(lo.Map(o.Spec.Requirements, func(r v1alpha1.NodeSelectorRequirement, _ int) corev1.NodeSelectorRequirement {
				return r.AsNodeSelectorRequirement()
			})...)
			if reqs.IsCompatible(or) {
				m.Overlays = append(m.Overlays, o.Name)
			}
		}
		sort.Strings(m.Overlays)
		out[it.Name] = m
	}
	return out
}

// annotate marks a new NodeClaim whose cheapest option's price or capacity an overlay changed, and
// adds what the cloud provider launches for it. kwok's Create picks the cheapest of the NodeClaim's
// options at its own prices, which overlays do not change; the AWS provider hands EC2 Fleet
// Karpenter's overlaid prices as priorities (awsLaunch).
func (s *simulation) annotate(plan *NodeClaimPlan, nc *scheduler.NodeClaim) {
	ov := s.overlays
	if ov == nil {
		return
	}
	np, ok := lo.Find(s.nodePools, func(np *karpv1.NodePool) bool { return np.Name == nc.NodePoolName })
	if !ok {
		return
	}
	if ov.cache == nil {
		ov.cache = map[string]*overlayCache{}
	}
	c := ov.cache[np.Name]
	if c == nil {
		c = &overlayCache{}
		if decorated, err := s.cloud.GetInstanceTypes(s.ctx, np); err == nil {
			c.marks = ov.marks(s.ctx, np, decorated)
		}
		if plain, err := ov.undecorated.GetInstanceTypes(s.ctx, np); err == nil {
			c.plain = lo.SliceToMap(plain, func(it *cloudprovider.InstanceType) (string, *cloudprovider.InstanceType) { return it.Name, it })
		}
		ov.cache[np.Name] = c
	}
	plan.Overlay = c.marks[plan.InstanceType]
	if r := s.pools.resolvedFor(np.Name); r != nil && r.AWSData != nil {
		awsLaunch(plan, nc, c.plain)
		return
	}
	var options []*cloudprovider.InstanceType
	for _, opt := range nc.InstanceTypeOptions {
		if it := c.plain[opt.Name]; it != nil {
			options = append(options, it)
		}
	}
	if it, o := launchChoice(options, nc.Requirements); it != nil {
		plan.LaunchInstanceType, plan.LaunchPricePerHour = it.Name, o.Price
	}
}

// launchChoice is what a cloud provider's lowest-price launch picks among instance types for a
// NodeClaim's requirements: the cheapest launchable offering they allow. The provider reads the types
// from the NodeClaim's instance-type requirement, whose values Karpenter writes sorted by name, and
// keeps the earlier of equal prices (kwok's Create), so ties go to the first name. nil when none can
// launch.
func launchChoice(its []*cloudprovider.InstanceType, reqs scheduling.Requirements) (*cloudprovider.InstanceType, *cloudprovider.Offering) {
	its = slices.SortedFunc(slices.Values(its), func(a, b *cloudprovider.InstanceType) int { return strings.Compare(a.Name, b.Name) })
	var best *cloudprovider.InstanceType
	var cheapest *cloudprovider.Offering
	for _, it := range its {
		if it.Requirements.Intersects(reqs) != nil {
			continue
		}
		offs := it.Offerings.Launchable().Compatible(reqs)
		if len(offs) == 0 {
			continue
		}
		if o := offs.Cheapest(); cheapest == nil || o.Price < cheapest.Price {
			best, cheapest = it, o
		}
	}
	return best, cheapest
}

type overlayCache struct {
	marks map[string]*OverlayMark
	plain map[string]*cloudprovider.InstanceType
}
