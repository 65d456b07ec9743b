package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/awslabs/operatorpkg/status"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	nodepoolutils "sigs.k8s.io/karpenter/pkg/utils/nodepool"
)

// nodePoolSet is the NodePools Karpenter would provision with, each with the instance types its
// NodeClass resolved to, and a warning for each one Karpenter would skip.
type nodePoolSet struct {
	candidates []*nodePoolTypes
	// notReady are the NodePools skipped because their NodeClass is not Ready, resolved as if it
	// were (keepNotReady): counterfactual runs may include them.
	notReady []*nodePoolTypes
	skipped  []SkippedNodePool
	warnings []Warning
	// byNodePool: the instance types GetInstanceTypes answers, after the zones that are down
	byNodePool map[string][]*cloudprovider.InstanceType
}

type nodePoolTypes struct {
	nodePool *karpv1.NodePool
	resolved *Resolved
}

// resolveNodePools checks each NodePool the way Karpenter's controllers would before provisioning
// with it (deletion, static, NodeClass served, validation, NodeClass readiness, NodePool Ready) and
// resolves its NodeClass's instance types. Only input problems (an AWS region) are errors.
// keepStatic keeps static NodePools (spec.replicas): they take no pending pods (Karpenter's
// provisioner passes them over itself), but disruption replaces their drifted nodes.
// keepNotReady resolves the NodePools skipped because their NodeClass is not Ready as if it were
// (nodePoolSet.notReady).
func resolveNodePools(ctx context.Context, snap *Snapshot, src InstanceTypeSource, keepStatic, keepNotReady bool) (*nodePoolSet, error) {
	set := &nodePoolSet{}
	var assumedReady []string
	shown := map[*Resolved]bool{}
	for _, orig := range snap.NodePools {
		np := orig.DeepCopy()
		warn := func(format string, args ...any) {
			set.warnings = append(set.warnings, Warning{NodePool: np.Name, Message: fmt.Sprintf(format, args...)})
		}
		skip := func(format string, args ...any) {
			warn(format, args...)
			set.skipped = append(set.skipped, SkippedNodePool{Name: np.Name, Weight: weight(np), Message: fmt.Sprintf(format, args...)})
		}
		ref := np.Spec.Template.Spec.NodeClassRef
		switch {
		case np.DeletionTimestamp != nil:
			skip("being deleted: Karpenter does not provision with it")
			continue
		case nodepoolutils.IsStatic(np) && !keepStatic:
			skip("static NodePool (spec.replicas is set): it takes no pending pods, and Karpenter keeps its node count only with the StaticCapacity feature gate, which is off")
			continue
		case ref == nil || ref.Kind == "" || ref.Group == "":
			skip("invalid: spec.template.spec.nodeClassRef needs group, kind and name")
			continue
		case !src.Serves(ref.GroupKind()):
			skip("karpctl has no instance types for its nodeClassRef %s.%s/%s (it plans KWOKNodeClass and EC2NodeClass NodePools; --catalog FILE plans any kind): left out",
				ref.Kind, ref.Group, ref.Name)
			continue
		}
		if err := np.RuntimeValidate(ctx); err != nil {
			skip("invalid, Karpenter would mark it not Ready and skip it: %v", err)
			continue
		}
		res, err := src.Resolve(ctx, ref)
		var nce *NodeClassError
		switch {
		case errors.As(err, &nce):
			skip("not Ready: %v (Karpenter's NodePool status): Karpenter skips it", nce)
			set.skipped[len(set.skipped)-1].NodeClass = nce
			if keepNotReady {
				set.keepAsReady(ctx, src, np)
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("NodePool %s: %w", np.Name, err)
		}
		if !shown[res] {
			shown[res] = true
			for _, w := range res.Warnings {
				set.warnings = append(set.warnings, Warning{Message: w})
			}
		}
		ready := storedReady(np.GetConditions())
		switch {
		case !snap.Live:
			if ready == nil || !ready.IsTrue() {
				assumedReady = append(assumedReady, np.Name)
			}
		case ready == nil:
			warn("has no Ready condition (never reconciled by a Karpenter controller?): assumed Ready")
		case !ready.IsTrue():
			skip("not Ready in the cluster (%s: %s): Karpenter skips it", ready.Reason, ready.Message)
			continue
		}
		markReady(np)
		set.candidates = append(set.candidates, &nodePoolTypes{nodePool: np, resolved: res})
	}
	if len(assumedReady) > 0 {
		set.warnings = append(set.warnings, Warning{Message: fmt.Sprintf(
			"NodePools read from files carry no reconciled status; marked Ready: %s", strings.Join(assumedReady, ", "))})
	}
	return set, nil
}

// storedReady is the Ready condition as stored in conds (the last one, should there be several), nil
// when there is none: StatusConditions() would initialise a missing one to Unknown.
func storedReady(conds []status.Condition) *status.Condition {
	var ready *status.Condition
	for i := range conds {
		if conds[i].Type == status.ConditionReady {
			ready = &conds[i]
		}
	}
	return ready
}

// zones lists every zone the candidates' instance types are offered in.
func (s *nodePoolSet) zones() []string {
	var sets [][]*cloudprovider.InstanceType
	for _, c := range s.candidates {
		sets = append(sets, c.resolved.InstanceTypes)
	}
	return offeredZones(sets...)
}

// usable takes the zones that are down away and returns the NodePools left with an instance type
// their requirements allow, warning about the others.
func (s *nodePoolSet) usable(down map[string]bool) []*karpv1.NodePool {
	s.byNodePool = map[string][]*cloudprovider.InstanceType{}
	left := map[*Resolved][]*cloudprovider.InstanceType{}
	var usable []*karpv1.NodePool
	for _, c := range s.candidates {
		its, ok := left[c.resolved]
		if !ok {
			its = withoutZones(c.resolved.InstanceTypes, down)
			left[c.resolved] = its
		}
		if len(CompatibleInstanceTypes(c.nodePool, its)) == 0 {
			msg := fmt.Sprintf("its requirements match no instance type of %s: it cannot launch anything", c.resolved.describe())
			s.warnings = append(s.warnings, Warning{NodePool: c.nodePool.Name, Message: msg})
			s.skipped = append(s.skipped, SkippedNodePool{Name: c.nodePool.Name, Weight: weight(c.nodePool), Message: msg})
			continue
		}
		s.byNodePool[c.nodePool.Name] = its
		usable = append(usable, c.nodePool)
	}
	s.usableAsReady(down)
	return usable
}

// provider is the cloud provider Karpenter's scheduler asks: each usable NodePool's instance types
// and the NodeClass kinds they reference.
func (s *nodePoolSet) provider() *catalogProvider {
	cp := &catalogProvider{byNodePool: s.byNodePool}
	seen := map[schema.GroupKind]bool{}
	for _, c := range append(append([]*nodePoolTypes{}, s.candidates...), s.notReady...) {
		gk := c.nodePool.Spec.Template.Spec.NodeClassRef.GroupKind()
		if _, ok := s.byNodePool[c.nodePool.Name]; ok && !seen[gk] {
			seen[gk] = true
			cp.nodeClasses = append(cp.nodeClasses, gk)
		}
	}
	return cp
}

// resolvedFor is the resolution of a NodePool that is a candidate.
func (s *nodePoolSet) resolvedFor(name string) *Resolved {
	for _, c := range append(append([]*nodePoolTypes{}, s.candidates...), s.notReady...) {
		if c.nodePool.Name == name {
			return c.resolved
		}
	}
	return nil
}

func (r *Resolved) describe() string {
	if r.Region != "" {
		return r.Source + " " + r.Region
	}
	return r.Source
}

// CompatibleInstanceTypes are the instance types Karpenter's scheduler keeps for a NodePool before
// any pod (scheduler.NewScheduler): compatible with the requirements of the NodePool's NodeClaim
// template (requirements, template labels, NodePool label) and with an available offering that
// satisfies them.
func CompatibleInstanceTypes(np *karpv1.NodePool, its []*cloudprovider.InstanceType) []*cloudprovider.InstanceType {
	reqs := nodeClaimRequirements(np)
	var out []*cloudprovider.InstanceType
	for _, it := range its {
		if it.Requirements.Intersects(reqs) == nil && it.Offerings.Available().HasCompatible(reqs) {
			out = append(out, it)
		}
	}
	return out
}

func nodeClaimRequirements(np *karpv1.NodePool) scheduling.Requirements {
	if np.Spec.Template.Spec.NodeClassRef == nil {
		return scheduling.NewNodeSelectorRequirementsWithMinValues(np.Spec.Template.Spec.Requirements...)
	}
	return scheduler.NewNodeClaimTemplate(np).Requirements
}

// plan is the empty plan of a usable NodePool.
func (s *nodePoolSet) plan(np *karpv1.NodePool) NodePoolPlan {
	p := NodePoolPlan{Name: np.Name, Weight: weight(np), NodeClaims: []NodeClaimPlan{}}
	if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil {
		p.NodeClass = ref.Kind + "/" + ref.Name
	}
	if r := s.resolvedFor(np.Name); r != nil {
		p.Catalog = r.Source
	}
	return p
}

// catalogs names where the usable NodePools' instance types come from ("aws, kwok"), with the AWS
// region and data when any uses the AWS model.
func (s *nodePoolSet) catalogs() (names, region string, data *AWSData) {
	seen := map[string]bool{}
	var list []string
	for _, c := range s.candidates {
		if _, ok := s.byNodePool[c.nodePool.Name]; !ok {
			continue
		}
		if r := c.resolved; !seen[r.Source] {
			seen[r.Source] = true
			list = append(list, r.Source)
		}
		if c.resolved.Region != "" {
			region, data = c.resolved.Region, c.resolved.AWSData
		}
	}
	sort.Strings(list)
	return strings.Join(list, ", "), region, data
}

func weight(np *karpv1.NodePool) int32 {
	if np.Spec.Weight == nil {
		return 0
	}
	return *np.Spec.Weight
}
