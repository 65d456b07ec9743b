package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/samber/lo"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	staticdeprovisioning "sigs.k8s.io/karpenter/pkg/controllers/static/deprovisioning"
	staticprovisioning "sigs.k8s.io/karpenter/pkg/controllers/static/provisioning"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"
)

// StaticPlan is what Karpenter's static NodePool controllers (StaticCapacity gate) would do for a
// NodePool with spec.replicas: create NodeClaims up to the count, within its node limit, or delete
// the ones its deprovisioning controller picks down to it.
type StaticPlan struct {
	NodePool string `json:"nodePool"`
	Replicas int64  `json:"replicas"`
	// NodeClaims is how many NodeClaims Karpenter's cluster state counts for the NodePool now.
	NodeClaims int `json:"nodeClaims"`
	// Create is how many NodeClaims Karpenter would create; Delete names those it would delete.
	Create int      `json:"create"`
	Delete []string `json:"delete"`
	// InstanceType and PricePerHour are what a created NodeClaim launches as: the cheapest offering
	// its requirements allow (the provider's lowest-price launch), empty when none is launchable.
	InstanceType string  `json:"instanceType,omitempty"`
	PricePerHour float64 `json:"pricePerHour"`
	Zone         string  `json:"zone,omitempty"`
	CapacityType string  `json:"capacityType,omitempty"`
}

// staticGate says whether Karpenter runs its static NodePool controllers.
func staticGate(ctx context.Context) bool {
	return coreoptions.FromContext(ctx).FeatureGates.StaticCapacity
}

// static runs Karpenter's static provisioning and deprovisioning controllers once per static
// NodePool over the simulation, recording the NodeClaims they would create and delete. It runs after
// the pending pods were scheduled and changes the simulation's cluster state, as Karpenter's own
// controllers change it.
func (s *simulation) static() ([]StaticPlan, error) {
	var out []StaticPlan
	for _, np := range s.nodePools {
		if !nodepoolutils.IsStatic(np) {
			continue
		}
		rec := &recordingClient{Client: s.client}
		prov := staticprovisioning.NewController(rec, s.cluster, s.recorder, s.cloud, s.provisioner, clock.RealClock{}, nil, nil)
		deprov := staticdeprovisioning.NewController(rec, s.cluster, s.cloud, clock.RealClock{}, s.recorder)
		running, _, _ := s.cluster.NodePoolState.GetNodeCount(np.Name)
		if _, err := prov.Reconcile(s.ctx, np); err != nil {
			return nil, fmt.Errorf("static NodePool %s: %w", np.Name, err)
		}
		if _, err := deprov.Reconcile(s.ctx, np); err != nil {
			return nil, fmt.Errorf("static NodePool %s: %w", np.Name, err)
		}
		p := StaticPlan{NodePool: np.Name, Replicas: lo.FromPtr(np.Spec.Replicas), NodeClaims: running, Create: len(rec.created), Delete: rec.deleted}
		sort.Strings(p.Delete)
		if len(rec.created) > 0 {
			s.launchOf(&p, rec.created[0])
		}
		out = append(out, p)
	}
	return out, nil
}

// launchOf fills what a created static NodeClaim launches as: the provider's lowest-price choice among
// the NodePool's instance types (launchChoice).
func (s *simulation) launchOf(p *StaticPlan, nc *karpv1.NodeClaim) {
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(nc.Spec.Requirements...)
	if it, o := launchChoice(s.pools.byNodePool[p.NodePool], reqs); it != nil {
		p.InstanceType, p.PricePerHour, p.Zone, p.CapacityType = it.Name, o.Price, o.Zone(), o.CapacityType()
	}
}

// recordingClient is the simulation's read-only client for Karpenter's static controllers: the
// NodeClaims they create and delete are recorded, never written anywhere.
type recordingClient struct {
	client.Client
	mu      sync.Mutex
	created []*karpv1.NodeClaim
	deleted []string
}

func (c *recordingClient) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	nc, ok := obj.(*karpv1.NodeClaim)
	if !ok {
		return errReadOnly
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if nc.Name == "" {
		nc.Name = fmt.Sprintf("%s%d", nc.GenerateName, len(c.created))
	}
	c.created = append(c.created, nc)
	return nil
}

func (c *recordingClient) Delete(_ context.Context, obj client.Object, _ ...client.DeleteOption) error {
	if _, ok := obj.(*karpv1.NodeClaim); !ok {
		return errReadOnly
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, obj.GetName())
	return nil
}
