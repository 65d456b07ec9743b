// Package explain answers why Karpenter places a pod where it does, or nowhere, and what would
// change it. Every answer comes from Karpenter's own scheduler (package engine): the outcome is the
// plan's, and each constraint that blocks a NodePool is confirmed by scheduling the pod again, alone,
// on that NodePool with the constraint relaxed (a counterfactual run) and seeing it schedule. The
// smallest change is the relaxation that worked, sized by the NodeClaim Karpenter then created.
// Counting instance types per cause uses Karpenter's exported predicates. Nothing is printed.
package explain

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// Kind names the constraint that blocks a NodePool.
type Kind string

// The kinds of blocking constraints, each confirmed by relaxing it.
const (
	// Taint: a NodePool taint the pod does not tolerate (relaxed: the pod tolerates it).
	Taint Kind = "Taint"
	// Requirement: the pod's node requirement on a key conflicts with the NodePool's (relaxed: the
	// NodePool allows the pod's values), or the NodePool allows it but none of its instance types
	// meets it, such as an instance family of another architecture (relaxed: the pod drops it).
	Requirement Kind = "Requirement"
	// Limit: the NodePool's limits leave no room for an instance type that fits the pod (relaxed: no
	// limits).
	Limit Kind = "Limit"
	// Resources: no compatible instance type is large enough for the pod's requests plus DaemonSet
	// overhead (relaxed: the pod requests nothing).
	Resources Kind = "Resources"
	// Offering: compatible types exist but none is offered in the zones and capacity types allowed
	// (relaxed: the least that works of the pod's or the NodePool's requirement on the zone, then
	// on the capacity type, then on both, allows any value).
	Offering Kind = "Offering"
	// MinValues: the NodePool's minValues cannot be met by the types left for the pod (relaxed: no
	// minValues).
	MinValues Kind = "MinValues"
	// NodeClass: the NodePool's NodeClass is not Ready, so Karpenter skips the NodePool (relaxed: the
	// NodePool included as Karpenter would see it were the NodeClass Ready).
	NodeClass Kind = "NodeClass"
	// Volume: the pod's volumes pin it where the NodePool cannot launch (relaxed: no such volumes).
	Volume Kind = "Volume"
	// Topology: a DoNotSchedule topology spread no new node can satisfy (relaxed: no spread).
	Topology Kind = "Topology"
	// Affinity: required pod affinity or anti-affinity no new node can satisfy (relaxed: none).
	Affinity Kind = "Affinity"
	// HostPort: the pod's host ports conflict (relaxed: no host ports).
	HostPort Kind = "HostPort"
)

// Kinds lists every kind, in the order reasons are reported.
var Kinds = []Kind{Taint, Requirement, Limit, Resources, Offering, MinValues, NodeClass, Volume, Topology, Affinity, HostPort}

// The outcomes of a pod in the plan.
const (
	// OutcomeRunning: the pod is bound to a node already.
	OutcomeRunning = "Running"
	// OutcomeExistingNode: Karpenter's scheduler puts it onto an existing or in-flight node.
	OutcomeExistingNode = "ExistingNode"
	// OutcomeNewNodeClaim: a new NodeClaim (possibly shared with other pending pods).
	OutcomeNewNodeClaim = "NewNodeClaim"
	// OutcomeUnschedulable: nowhere.
	OutcomeUnschedulable = "Unschedulable"
)

// The verdicts on a NodePool.
const (
	// VerdictLaunches: the NodePool that takes the pod in the plan.
	VerdictLaunches = "Launches"
	// VerdictLaunchable: it would launch a NodeClaim for the pod, but Karpenter uses another
	// NodePool (higher weight first) or the pods ahead in the queue use it up.
	VerdictLaunchable = "Launchable"
	// VerdictBlocked: Karpenter's scheduler cannot place the pod with it; Reasons say why.
	VerdictBlocked = "Blocked"
	// VerdictSkipped: Karpenter does not provision with the NodePool at all.
	VerdictSkipped = "Skipped"
	// VerdictNotNeeded: the pod runs, or an existing node takes it; no NodePool launches for it.
	VerdictNotNeeded = "NotNeeded"
)

// PodExplanation is why one pod goes where it goes, or nowhere.
type PodExplanation struct {
	// Pod is NAMESPACE/NAME.
	Pod string `json:"pod"`
	// Requests are the pod's requests as Karpenter sums them (init containers, overhead).
	Requests corev1.ResourceList `json:"requests"`
	Outcome  Outcome             `json:"outcome"`
	// NodePools are every NodePool in Karpenter's order (weight, then name), then the ones it skips.
	NodePools []NodePoolVerdict `json:"nodePools"`
	// InstanceTypes explains the choice of instance type, for the NodePool that launches.
	InstanceTypes *InstanceTypeChoice `json:"instanceTypes,omitempty"`
	Warnings      []engine.Warning    `json:"warnings"`
}

// Placed says whether the pod runs or would get a place.
func (e *PodExplanation) Placed() bool { return e.Outcome.Kind != OutcomeUnschedulable }

// Outcome is what the plan does with the pod.
type Outcome struct {
	// Kind is Running, ExistingNode, NewNodeClaim or Unschedulable.
	Kind string `json:"kind"`
	// Node is the node (Running, ExistingNode).
	Node     string `json:"node,omitempty"`
	NodePool string `json:"nodePool,omitempty"`
	// NodeClaim is the new NodeClaim's cheapest option (NewNodeClaim).
	NodeClaim *engine.NodeClaimPlan `json:"nodeClaim,omitempty"`
	// SharedWith are the other pending pods on the same new NodeClaim or existing node.
	SharedWith []string `json:"sharedWith,omitempty"`
	// Reason is Karpenter's reason (Unschedulable), Stage its stage as in plan.
	Reason string `json:"reason,omitempty"`
	Stage  string `json:"stage,omitempty"`
}

// NodePoolVerdict is what one NodePool does with the pod, and why.
type NodePoolVerdict struct {
	Name   string `json:"name"`
	Weight int32  `json:"weight"`
	// Verdict is Launches, Launchable, Blocked, Skipped or NotNeeded.
	Verdict string `json:"verdict"`
	// Message says it in words: Karpenter's reason for the pod alone on this NodePool, or why
	// another NodePool takes it first.
	Message string `json:"message,omitempty"`
	// NodeClaim is what the NodePool would launch for the pod alone (Launches, Launchable).
	NodeClaim *engine.NodeClaimPlan `json:"nodeClaim,omitempty"`
	// Reasons are every constraint that blocks it, each confirmed by a counterfactual run.
	Reasons []Reason `json:"reasons,omitempty"`
	// Alternatives says the reasons are alternatives: relaxing any one of them is enough.
	Alternatives bool `json:"alternatives,omitempty"`
}

// Reason is one blocking constraint, confirmed: with it relaxed (and the NodePool's other blocking
// constraints relaxed too), Karpenter's scheduler places the pod; with it kept, it does not.
type Reason struct {
	Kind Kind `json:"kind"`
	// Message is the constraint in plain words, with the numbers.
	Message string `json:"message"`
	// Change is the smallest change that lifts it, in words.
	Change string `json:"change"`
	// Key is the label key (Requirement, Offering, MinValues, Topology) or taint key (Taint).
	Key string `json:"key,omitempty"`
	// Values are the values the NodePool must allow for Key (Requirement), or the value of an
	// offering key to allow, where the type Karpenter then launched is offered (Offering).
	Values []string `json:"values,omitempty"`
	// InstanceTypeValues are the values of Key that the NodePool's instance types have, when the
	// NodePool allows the pod's requirement on Key but none of its instance types meets it
	// (Requirement): the change is then the pod's, or the NodePool's requirements that exclude
	// the types that meet it.
	InstanceTypeValues []string `json:"instanceTypeValues,omitempty"`
	// OnInstanceTypes marks that Requirement case (even when no instance type has a value for Key):
	// the run that proved it dropped the pod's requirement, so Apply does too.
	OnInstanceTypes bool `json:"onInstanceTypes,omitempty"`
	// Toleration is what the pod must tolerate (Taint).
	Toleration *corev1.Toleration `json:"toleration,omitempty"`
	// Limits are the smallest limits that make room (Limit).
	Limits corev1.ResourceList `json:"limits,omitempty"`
	// NodeClass is the NodeClass that is not Ready and its condition (NodeClass).
	NodeClass *NodeClassStatus `json:"nodeClass,omitempty"`
}

// NodeClassStatus is a NodeClass that is not Ready: the reason and message of the NodePool's
// NodeClassReady condition that Karpenter's readiness controller sets from the NodeClass's status.
type NodeClassStatus struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Report is what `explain` prints. Its JSON form is the stable explain schema: these fields plus
// PodExplanation's.
type Report struct {
	Header
	*PodExplanation
}

// Header is what every explain report says first: how the snapshot was read and which Karpenter's
// code ran with which settings.
type Header struct {
	// Mode is "live" (read from the cluster, plus any -f files) or "offline" (files only).
	Mode string `json:"mode"`
	// Engine is the bundled Karpenter module and version whose scheduler made every run.
	Engine           string   `json:"engine"`
	EngineVersion    string   `json:"engineVersion"`
	KarpenterVersion string   `json:"karpenterVersion,omitempty"`
	Files            []string `json:"files,omitempty"`
	// KarpenterSettings are every setting Karpenter's code ran with and where each came from.
	KarpenterSettings *karpenter.Settings `json:"karpenterSettings,omitempty"`
}

// NodeReport is `explain node|nodeclaim`'s result; its JSON form is documented in docs/json-schema.md.
type NodeReport struct {
	Header
	*NodeExplanation
}
