package engine

import "github.com/karpctl/karpctl/internal/engine/karpenter"

// PlanReport is what `plan --dry-run` prints. Its JSON form is the stable plan schema: these fields
// plus Result's (catalog, zonesDown, nodePools, existingNodes, unschedulable, warnings, totals).
type PlanReport struct {
	// Mode is "live" (read from the cluster, plus any -f files) or "offline" (files only).
	Mode string `json:"mode"`
	// Engine is the bundled Karpenter module and version whose scheduler made the plan.
	Engine        string `json:"engine"`
	EngineVersion string `json:"engineVersion"`
	// KarpenterVersion is the image tag of the cluster's Karpenter, when found (live mode).
	KarpenterVersion string `json:"karpenterVersion,omitempty"`
	// Namespaces whose pending pods were planned for; empty means all.
	Namespaces []string `json:"namespaces,omitempty"`
	Files      []string `json:"files,omitempty"`
	// Scale lists the --scale what-ifs as given (KIND/NAME=N).
	Scale []string `json:"scale,omitempty"`
	// KarpenterSettings are every setting Karpenter's code ran with and where each came from.
	KarpenterSettings *karpenter.Settings `json:"karpenterSettings,omitempty"`
	*Result
}

// Result is what Karpenter would do for the snapshot. Its JSON form is karpctl's stable plan schema.
type Result struct {
	// Catalog names the instance types the NodePools were planned with: "kwok", "aws", a catalog
	// file, or several joined by ", " (each NodePool's are in nodePools[].catalog).
	Catalog string `json:"catalog"`
	// Region is the AWS region of EC2NodeClass NodePools (prices and zones are that region's).
	Region string `json:"region,omitempty"`
	// AWSData dates the EC2 facts and prices behind the AWS instance types, when any NodePool uses them.
	AWSData *AWSData `json:"awsData,omitempty"`
	// ZonesDown lists the zones the what-if took away.
	ZonesDown []string `json:"zonesDown,omitempty"`
	// NodePools holds the new NodeClaims, grouped by NodePool, in Karpenter's weight order.
	NodePools []NodePoolPlan `json:"nodePools"`
	// ExistingNodes lists pending pods that fit onto nodes already in the cluster.
	ExistingNodes []ExistingNodePlacement `json:"existingNodes"`
	// Static is what Karpenter's static NodePool controllers would do (StaticCapacity gate on).
	Static []StaticPlan `json:"static,omitempty"`
	// Unschedulable groups the pods Karpenter cannot place, by reason.
	Unschedulable []UnschedulableGroup `json:"unschedulable"`
	Warnings      []Warning            `json:"warnings"`
	Totals        Totals               `json:"totals"`
}

// NodePoolPlan is the new capacity one NodePool would launch.
type NodePoolPlan struct {
	Name   string `json:"name"`
	Weight int32  `json:"weight"`
	// NodeClass is the NodePool's nodeClassRef as KIND/NAME; Catalog where its instance types come from.
	NodeClass    string          `json:"nodeClass"`
	Catalog      string          `json:"catalog"`
	NodeClaims   []NodeClaimPlan `json:"nodeClaims"`
	PricePerHour float64         `json:"pricePerHour"`
	Pods         int             `json:"pods"`
}

// NodeClaimPlan is one NodeClaim Karpenter would create.
type NodeClaimPlan struct {
	// InstanceType is the cheapest compatible instance type, the one a lowest-price launch would pick.
	InstanceType string `json:"instanceType"`
	// OtherInstanceTypes counts the other options the NodeClaim keeps (after Karpenter truncates to 60).
	OtherInstanceTypes int `json:"otherInstanceTypes"`
	// Zone and CapacityType are those of the cheapest offering; Zones and CapacityTypes are all allowed.
	Zone         string   `json:"zone"`
	Zones        []string `json:"zones"`
	CapacityType string   `json:"capacityType"`
	// ReservationID is the EC2 capacity reservation of a reserved offering.
	ReservationID string   `json:"reservationID,omitempty"`
	CapacityTypes []string `json:"capacityTypes"`
	PricePerHour  float64  `json:"pricePerHour"`
	Pods          []string `json:"pods"`
	// Requests include the daemonset overhead Karpenter reserved; fill = requests / allocatable.
	CPURequestMilli     int64   `json:"cpuRequestMilli"`
	CPUAllocatableMilli int64   `json:"cpuAllocatableMilli"`
	MemoryRequest       int64   `json:"memoryRequestBytes"`
	MemoryAllocatable   int64   `json:"memoryAllocatableBytes"`
	CPUFill             float64 `json:"cpuFill"`
	MemoryFill          float64 `json:"memoryFill"`
	// Overlay says NodeOverlays changed InstanceType's price or capacity (NodeOverlay gate on).
	Overlay *OverlayMark `json:"overlay,omitempty"`
	// LaunchInstanceType is, when NodeOverlays apply, what the cloud provider launches for the
	// NodeClaim: on kwok the cheapest of its options at kwok's own prices, which overlays do not
	// change; on AWS (on-demand or reserved) the first option at Karpenter's overlaid prices that
	// the provider's launch filters keep, as EC2 Fleet's prioritized strategy launches it (empty for
	// spot: EC2 picks by capacity). LaunchPricePerHour is what the provider charges for it.
	LaunchInstanceType string  `json:"launchInstanceType,omitempty"`
	LaunchPricePerHour float64 `json:"launchPricePerHour,omitempty"`
}

// ExistingNodePlacement is pending pods that fit onto an existing (or in-flight) node.
type ExistingNodePlacement struct {
	Node     string   `json:"node"`
	NodePool string   `json:"nodePool,omitempty"`
	Pods     []string `json:"pods"`
}

// UnschedulableGroup is pods that share a reason.
type UnschedulableGroup struct {
	Reason string `json:"reason"`
	// Stage is "scheduling" (Karpenter's scheduler found no place), "validation" (rejected before
	// scheduling, e.g. a missing PVC), "ignored" (the pod requires karpenter.sh/nodepool DoesNotExist,
	// so Karpenter never provisions for it) or "unknown" (no decision at all; never silently dropped).
	Stage string   `json:"stage"`
	Pods  []string `json:"pods"`
}

// Warning is something that changes the plan which the user should know about, typically a NodePool
// that Karpenter would silently skip.
type Warning struct {
	NodePool string `json:"nodePool,omitempty"`
	Message  string `json:"message"`
}

// Totals sums the plan.
type Totals struct {
	PendingPods         int     `json:"pendingPods"`
	NewNodes            int     `json:"newNodes"`
	PricePerHour        float64 `json:"pricePerHour"`
	PodsOnNewNodes      int     `json:"podsOnNewNodes"`
	PodsOnExistingNodes int     `json:"podsOnExistingNodes"`
	UnschedulablePods   int     `json:"unschedulablePods"`
}
