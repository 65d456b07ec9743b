package explain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	podutils "sigs.k8s.io/karpenter/pkg/utils/pod"
	"sigs.k8s.io/karpenter/pkg/utils/resources"

	"github.com/karpctl/karpctl/internal/engine"
)

// ErrNodeNotFound means neither a node nor a NodeClaim of that name is in the snapshot;
// ErrNotKarpenterNode that the node has no NodePool label: Karpenter did not launch it.
var (
	ErrNodeNotFound     = errors.New("not found")
	ErrNotKarpenterNode = errors.New("not a Karpenter node")
)

// NodeExplanation is why a Karpenter node is what it is and whether Karpenter disrupts it now.
type NodeExplanation struct {
	Node         string `json:"node"`
	NodeClaim    string `json:"nodeClaim,omitempty"`
	NodePool     string `json:"nodePool"`
	InstanceType string `json:"instanceType"`
	Zone         string `json:"zone"`
	CapacityType string `json:"capacityType"`
	// Requirements are the NodeClaim's spec.requirements, as Karpenter wrote them when it created it:
	// the NodePool's, the pods' and the instance types it allowed.
	Requirements []string `json:"requirements"`
	// Options are the instance types those requirements allow that have a launchable offering
	// within them, cheapest first (Karpenter's on-demand launch takes the cheapest). Rank is the
	// launched type's place among them (1: the cheapest), 0 when it is not among them any more.
	Options []RankedType `json:"options"`
	Rank    int          `json:"rank"`
	// Pods are the pods bound to the node now, largest request first; Requested sums them against
	// the node's allocatable.
	Pods        []NodePod           `json:"pods"`
	Requested   corev1.ResourceList `json:"requested"`
	Allocatable corev1.ResourceList `json:"allocatable"`
	// Disruption is what Karpenter's disruption methods decide for the node now (disrupt's answer).
	Disruption NodeDisruption   `json:"disruption"`
	Warnings   []engine.Warning `json:"warnings"`
}

// NodePod is one pod on the node with its requests (Karpenter's sum: containers, init containers,
// overhead).
type NodePod struct {
	Pod      string              `json:"pod"`
	Requests corev1.ResourceList `json:"requests"`
	// DaemonSet says a DaemonSet owns it: Karpenter counts it as overhead, not as a pod to move.
	DaemonSet bool `json:"daemonSet,omitempty"`
}

// NodeDisruption is the node's line in disrupt's answer: a decision (delete, replace) by a method,
// or stays, with Karpenter's reason.
type NodeDisruption struct {
	Decision string `json:"decision"`
	Method   string `json:"method,omitempty"`
	Reason   string `json:"reason"`
	Source   string `json:"source,omitempty"`
}

// Node explains the node (or the NodeClaim) named: the NodeClaim's requirements, where its type
// ranks among the types they allow, the pods that fill it, and Karpenter's disruption decision
// for it now, from engine.Disrupt over the same snapshot.
func Node(ctx context.Context, snap *engine.Snapshot, src engine.InstanceTypeSource, name string, nodeClaim bool) (*NodeExplanation, error) {
	node, nc := findNode(snap, name, nodeClaim)
	if node == nil && nc == nil {
		return nil, fmt.Errorf("%w", ErrNodeNotFound)
	}
	e := &NodeExplanation{Options: []RankedType{}, Pods: []NodePod{}, Requirements: []string{}, Warnings: []engine.Warning{}}
	labels := map[string]string{}
	if nc != nil {
		e.NodeClaim, e.Node, labels = nc.Name, nc.Status.NodeName, nc.Labels
		for _, r := range nc.Spec.Requirements {
			e.Requirements = append(e.Requirements, requirementString(r))
		}
		e.Allocatable = nc.Status.Allocatable
	}
	if node != nil {
		e.Node, labels, e.Allocatable = node.Name, node.Labels, node.Status.Allocatable
	}
	e.NodePool, e.InstanceType = labels[karpv1.NodePoolLabelKey], labels[corev1.LabelInstanceTypeStable]
	e.Zone, e.CapacityType = labels[corev1.LabelTopologyZone], labels[karpv1.CapacityTypeLabelKey]
	if e.NodePool == "" {
		return nil, fmt.Errorf("%w: %s has no %s label (Karpenter did not launch it)", ErrNotKarpenterNode, name, karpv1.NodePoolLabelKey)
	}
	e.addPods(snap)
	if nc != nil {
		if err := e.rankOptions(ctx, snap, src, nc); err != nil {
			e.Warnings = append(e.Warnings, engine.Warning{NodePool: e.NodePool, Message: err.Error()})
		}
	}
	res, err := engine.Disrupt(ctx, snap, src, engine.DisruptOptions{})
	if err != nil {
		return nil, err
	}
	e.Disruption = disruptionOf(res, e.Node, e.NodeClaim)
	e.Warnings = append(e.Warnings, res.Warnings...)
	return e, nil
}

func findNode(snap *engine.Snapshot, name string, byNodeClaim bool) (*corev1.Node, *karpv1.NodeClaim) {
	var node *corev1.Node
	var nc *karpv1.NodeClaim
	for _, c := range snap.NodeClaims {
		if (byNodeClaim && c.Name == name) || (!byNodeClaim && c.Status.NodeName == name) {
			nc = c
		}
	}
	nodeName := name
	if byNodeClaim {
		if nc == nil {
			return nil, nil
		}
		nodeName = nc.Status.NodeName
	}
	for _, n := range snap.Nodes {
		if n.Name == nodeName && nodeName != "" {
			node = n
		}
	}
	return node, nc
}

func requirementString(r karpv1.NodeSelectorRequirementWithMinValues) string {
	s := r.Key + " " + string(r.Operator)
	if len(r.Values) > 0 {
		s += " [" + strings.Join(r.Values, ", ") + "]"
	}
	if r.MinValues != nil {
		s += fmt.Sprintf(" (minValues %d)", *r.MinValues)
	}
	return s
}

// addPods lists the pods bound to the node, largest cpu request first, and sums their requests.
func (e *NodeExplanation) addPods(snap *engine.Snapshot) {
	var pods []*corev1.Pod
	for _, p := range snap.Pods {
		if p.Spec.NodeName == e.Node && e.Node != "" {
			pods = append(pods, p)
		}
	}
	e.Requested = resources.RequestsForPods(pods...)
	for _, p := range pods {
		e.Pods = append(e.Pods, NodePod{Pod: p.Namespace + "/" + p.Name, Requests: resources.RequestsForPods(p), DaemonSet: podutils.IsOwnedByDaemonSet(p)})
	}
	sort.SliceStable(e.Pods, func(a, b int) bool {
		ca, cb := e.Pods[a].Requests.Cpu().MilliValue(), e.Pods[b].Requests.Cpu().MilliValue()
		if ca != cb {
			return ca > cb
		}
		return e.Pods[a].Pod < e.Pods[b].Pod
	})
}

// rankOptions ranks the instance types the NodeClaim's requirements allow by their cheapest
// launchable offering within them (Karpenter's predicates: requirement compatibility, offerings).
func (e *NodeExplanation) rankOptions(ctx context.Context, snap *engine.Snapshot, src engine.InstanceTypeSource, nc *karpv1.NodeClaim) error {
	if nc.Spec.NodeClassRef == nil {
		return fmt.Errorf("NodeClaim %s has no nodeClassRef: its options are not known", nc.Name)
	}
	if !src.Serves(nc.Spec.NodeClassRef.GroupKind()) {
		return fmt.Errorf("karpctl has no instance types for %s: the NodeClaim's options are not ranked", nc.Spec.NodeClassRef.Kind)
	}
	resolved, err := src.Resolve(ctx, nc.Spec.NodeClassRef)
	if err != nil {
		return fmt.Errorf("the NodeClaim's options are not ranked: %v", err)
	}
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(nc.Spec.Requirements...)
	for _, it := range resolved.InstanceTypes {
		if it.Requirements.Intersects(reqs) != nil {
			continue
		}
		offs := it.Offerings.Launchable().Compatible(reqs)
		if len(offs) == 0 {
			continue
		}
		c, alloc := offs.Cheapest(), it.Allocatable()
		e.Options = append(e.Options, RankedType{Name: it.Name, CPUAllocatableMilli: alloc.Cpu().MilliValue(), MemoryAllocatable: alloc.Memory().Value(),
			PricePerHour: c.Price, Zone: c.Zone(), CapacityType: c.CapacityType()})
	}
	sort.SliceStable(e.Options, func(a, b int) bool {
		if e.Options[a].PricePerHour != e.Options[b].PricePerHour {
			return e.Options[a].PricePerHour < e.Options[b].PricePerHour
		}
		return e.Options[a].Name < e.Options[b].Name
	})
	for i, o := range e.Options {
		if o.Name == e.InstanceType {
			e.Rank = i + 1
		}
	}
	return nil
}

// disruptionOf is the node's line in disrupt's answer.
func disruptionOf(res *engine.DisruptResult, node, nodeClaim string) NodeDisruption {
	for _, c := range res.Commands {
		for _, cand := range c.Candidates {
			if (node != "" && cand.Node == node) || (nodeClaim != "" && cand.NodeClaim == nodeClaim) {
				return NodeDisruption{Decision: c.Decision, Method: c.Method, Reason: c.Reason}
			}
		}
	}
	for _, s := range res.Staying {
		if (node != "" && s.Node == node) || (nodeClaim != "" && s.NodeClaim == nodeClaim) {
			return NodeDisruption{Decision: "stays", Reason: s.Reason, Source: s.Source}
		}
	}
	return NodeDisruption{Decision: "stays", Reason: "no disruption method picks it now"}
}
