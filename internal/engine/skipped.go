package engine

import (
	"context"

	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// SkippedNodePool is a NodePool Karpenter does not provision with, and why.
type SkippedNodePool struct {
	Name   string
	Weight int32
	// Message says why, as the plan's warning does.
	Message string
	// NodeClass is set when the NodePool is skipped because its NodeClass is not Ready: the
	// NodeClass and its NodeClassReady condition's reason and message.
	NodeClass *NodeClassError
	// AsReady is the NodePool as Karpenter's scheduler would see it were its NodeClass Ready
	// (Options.KeepNotReady); Simulation.Schedule accepts it. Nil when the NodeClass cannot be
	// resolved (it does not exist) or its instance types leave the NodePool nothing to launch.
	AsReady *karpv1.NodePool
}

// Skipped are the NodePools Karpenter does not provision with, in the snapshot's order, and why.
func (s *Simulation) Skipped() []SkippedNodePool { return s.sim.pools.skipped }

// assumeReadyKey marks a context in which a source resolves a NodeClass that is not Ready as if it
// were: the instance types Karpenter would get once it is.
type assumeReadyKey struct{}

func assumingNodeClassReady(ctx context.Context) context.Context {
	return context.WithValue(ctx, assumeReadyKey{}, true)
}

func nodeClassAssumedReady(ctx context.Context) bool { return ctx.Value(assumeReadyKey{}) != nil }

// markReady sets what Karpenter's NodePool controllers set on a NodePool they provision with.
func markReady(np *karpv1.NodePool) {
	np.StatusConditions().SetTrue(karpv1.ConditionTypeValidationSucceeded)
	np.StatusConditions().SetTrue(karpv1.ConditionTypeNodeClassReady)
	if np.UID == "" {
		np.UID = StableUID("nodepool", np.Name)
	}
}

// keepAsReady resolves the NodeClass of a NodePool skipped for it as if it were Ready and keeps the
// NodePool aside; a NodeClass that cannot be resolved so (one that does not exist) leaves nothing.
func (s *nodePoolSet) keepAsReady(ctx context.Context, src InstanceTypeSource, np *karpv1.NodePool) {
	res, err := src.Resolve(assumingNodeClassReady(ctx), np.Spec.Template.Spec.NodeClassRef)
	if err != nil {
		return
	}
	markReady(np)
	s.notReady = append(s.notReady, &nodePoolTypes{nodePool: np, resolved: res})
}

// usableAsReady gives the NodePools kept aside their instance types outside the zones that are down,
// as usable does, and marks those left with one as AsReady.
func (s *nodePoolSet) usableAsReady(down map[string]bool) {
	for _, c := range s.notReady {
		its := withoutZones(c.resolved.InstanceTypes, down)
		if len(CompatibleInstanceTypes(c.nodePool, its)) == 0 {
			continue
		}
		s.byNodePool[c.nodePool.Name] = its
		for i := range s.skipped {
			if s.skipped[i].Name == c.nodePool.Name {
				s.skipped[i].AsReady = c.nodePool
			}
		}
	}
}

func (s *nodePoolSet) anyAsReady() bool {
	for _, sk := range s.skipped {
		if sk.AsReady != nil {
			return true
		}
	}
	return false
}
