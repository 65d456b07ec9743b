package engine

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"

	"github.com/karpctl/karpctl/internal/engine/catalog"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
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

// SmallestLaunchable takes the NodePools in Karpenter's own order (nodepoolutils.OrderByWeight: the
// highest weight first, ties by name) and returns the first one Karpenter would provision with — live
// Ready, valid, its NodeClass served by the embedded kwok catalog — with the smallest instance type
// (allocatable CPU, then memory, then price) that has an available offering compatible with its
// NodeClaim template, outside zonesDown and not among the instance types exclude names for the NodePool
// (nil: none). Karpenter's own types do the judging: requirements, offerings and allocatable, through
// the checks plan makes of a NodePool, with the settings of the cluster's Karpenter (nil: its
// defaults).
func SmallestLaunchable(ctx context.Context, settings *karpenter.Settings, nodePools []*karpv1.NodePool, zonesDown []string, exclude func(*karpv1.NodePool) ([]string, error)) (*LaunchTarget, error) {
	ctx, err := karpenterContext(ctx, settings)
	if err != nil {
		return nil, err
	}
	kwok, err := catalog.Named(catalog.Kwok)
	if err != nil {
		return nil, err
	}
	src := CatalogSource(kwok, false)
	down := map[string]bool{}
	for _, z := range zonesDown {
		down[z] = true
	}
	ordered := append([]*karpv1.NodePool(nil), nodePools...)
	nodepoolutils.OrderByWeight(ordered)
	var reasons []string
	var warnings []Warning
	for _, np := range ordered {
		if ref := np.Spec.Template.Spec.NodeClassRef; ref == nil || !src.Serves(ref.GroupKind()) {
			reasons = append(reasons, fmt.Sprintf("%s: no embedded instance-type catalog serves its NodeClass %s", np.Name, nodeClassName(np)))
			continue
		}
		set, err := resolveNodePools(ctx, &Snapshot{NodePools: []*karpv1.NodePool{np}, Live: true, Karpenter: settings}, src, false, false)
		if err != nil {
			return nil, err
		}
		usable := set.usable(down)
		warnings = append(warnings, set.warnings...)
		if len(usable) == 0 {
			for _, w := range set.warnings {
				reasons = append(reasons, w.NodePool+": "+w.Message)
			}
			continue
		}
		var excluded []string
		if exclude != nil {
			if excluded, err = exclude(np); err != nil {
				return nil, err
			}
		}
		if it := smallest(usable[0], set.byNodePool[usable[0].Name], excluded); it != nil {
			return &LaunchTarget{NodePool: np, Catalog: kwok.Name, InstanceType: it.Name, Allocatable: it.Allocatable(), Warnings: warnings}, nil
		}
		why := np.Name + ": no instance type with an available offering outside the zones down"
		if len(excluded) > 0 {
			why += " other than those of its nodes (" + strings.Join(excluded, ", ") + ")"
		}
		reasons = append(reasons, why)
	}
	if len(nodePools) == 0 {
		reasons = append(reasons, "the cluster has no NodePools")
	}
	return nil, fmt.Errorf("%w: %s", ErrNoUsableNodePool, strings.Join(reasons, "; "))
}

// smallest is the instance type of the NodePool's compatible ones with the least allocatable CPU,
// then memory, then the lowest price of its compatible offerings, leaving out the types named in excluded.
func smallest(np *karpv1.NodePool, its []*cloudprovider.InstanceType, excluded []string) *cloudprovider.InstanceType {
	reqs := nodeClaimRequirements(np)
	type cand struct {
		it    *cloudprovider.InstanceType
		price float64
	}
	var cs []cand
	for _, it := range CompatibleInstanceTypes(np, its) {
		if slices.Contains(excluded, it.Name) {
			continue
		}
		cs = append(cs, cand{it, it.Offerings.Launchable().Compatible(reqs).Cheapest().Price})
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
