package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"

	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// LaunchTarget is where a pod that only a new node can take would go: the NodePool Karpenter tries
// first and the smallest instance type it can launch there.
type LaunchTarget struct {
	NodePool *karpv1.NodePool
	// Catalog names the catalog the instance type comes from ("" when none serves the NodeClass).
	Catalog      string
	InstanceType string
	// Allocatable is the instance type's allocatable (capacity − kube-reserved), as Karpenter computes it.
	Allocatable corev1.ResourceList
	Warnings    []Warning
}

// CatalogFor is the embedded catalog that serves the NodePool's NodeClass kind, nil when none does.
func CatalogFor(np *karpv1.NodePool) *catalog.Catalog {
	ref := np.Spec.Template.Spec.NodeClassRef
	if ref == nil {
		return nil
	}
	gk := schema.GroupKind{Group: ref.Group, Kind: ref.Kind}
	for _, name := range catalog.Names() {
		if c, err := catalog.Named(name); err == nil {
			for _, k := range c.NodeClasses {
				if k == gk {
					return c
				}
			}
		}
	}
	return nil
}

// SmallestLaunchable takes the NodePools in Karpenter's own order (nodepoolutils.OrderByWeight: the
// highest weight first, ties by name) and returns the first one Karpenter would provision with — live
// Ready, valid, served by an embedded catalog — with the smallest instance type (allocatable CPU, then
// memory, then price) that has an available offering compatible with its requirements, outside
// zonesDown. Karpenter's own types do the judging: requirements, offerings and allocatable.
func SmallestLaunchable(ctx context.Context, nodePools []*karpv1.NodePool, zonesDown []string) (*LaunchTarget, error) {
	ctx, err := karpenterContext(ctx)
	if err != nil {
		return nil, err
	}
	ordered := append([]*karpv1.NodePool(nil), nodePools...)
	nodepoolutils.OrderByWeight(ordered)
	var reasons []string
	var warnings []Warning
	for _, np := range ordered {
		cat := CatalogFor(np)
		if cat == nil {
			reasons = append(reasons, fmt.Sprintf("%s: no embedded instance-type catalog serves its NodeClass %s", np.Name, nodeClassName(np)))
			continue
		}
		for _, z := range zonesDown {
			cat = cat.WithoutZone(z)
		}
		cat.RegisterWellKnownLabels()
		cp := &catalogProvider{instanceTypes: cat.KarpenterInstanceTypes(), nodeClasses: cat.NodeClasses}
		usable, ws := usableNodePools(ctx, &Snapshot{NodePools: []*karpv1.NodePool{np}, Live: true}, cp, cat.Name)
		warnings = append(warnings, ws...)
		if len(usable) == 0 {
			for _, w := range ws {
				reasons = append(reasons, w.NodePool+": "+w.Message)
			}
			continue
		}
		if it := smallest(usable[0], cp.instanceTypes); it != nil {
			return &LaunchTarget{NodePool: np, Catalog: cat.Name, InstanceType: it.Name, Allocatable: it.Allocatable(), Warnings: warnings}, nil
		}
		reasons = append(reasons, np.Name+": no instance type with an available offering outside the zones down")
	}
	if len(nodePools) == 0 {
		reasons = append(reasons, "the cluster has no NodePools")
	}
	return nil, fmt.Errorf("%w: %s", ErrNoUsableNodePool, strings.Join(reasons, "; "))
}

func smallest(np *karpv1.NodePool, its []*cloudprovider.InstanceType) *cloudprovider.InstanceType {
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(np.Spec.Template.Spec.Requirements...)
	type cand struct {
		it    *cloudprovider.InstanceType
		price float64
	}
	var cs []cand
	for _, it := range its {
		offs := it.Offerings.Available().Compatible(reqs)
		if it.Requirements.Intersects(reqs) != nil || len(offs) == 0 {
			continue
		}
		cs = append(cs, cand{it, offs.Cheapest().Price})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i].it.Allocatable(), cs[j].it.Allocatable()
		if c := a.Cpu().Cmp(*b.Cpu()); c != 0 {
			return c < 0
		}
		if c := a.Memory().Cmp(*b.Memory()); c != 0 {
			return c < 0
		}
		if cs[i].price != cs[j].price {
			return cs[i].price < cs[j].price
		}
		return cs[i].it.Name < cs[j].it.Name
	})
	if len(cs) == 0 {
		return nil
	}
	return cs[0].it
}

func nodeClassName(np *karpv1.NodePool) string {
	if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil {
		return ref.Kind + "." + ref.Group + "/" + ref.Name
	}
	return "<none>"
}
