// Package top is the live model behind `karpctl top`: informer caches of the kinds plan reads
// (one LIST and one WATCH per kind), predictions recomputed in the background, and Build, which
// turns what was observed into a Screen — the header, the NodePools, the nodes and what Karpenter
// would do next. Build is pure (same Input, same Screen); nothing here prints.
package top

import (
	"time"

	ksettings "github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/units"
)

// Screen is one picture of the cluster: what `top` draws and what `top -o json|yaml` prints.
type Screen struct {
	Cluster    string    `json:"cluster"`
	Context    string    `json:"context"`
	ObservedAt time.Time `json:"observedAt"`
	Karpenter  Karpenter `json:"karpenter"`
	// KarpenterSettings are every setting the predictions run Karpenter's code with and where each
	// came from: the cluster's Karpenter Deployment, read when top started.
	KarpenterSettings *ksettings.Settings `json:"karpenterSettings,omitempty"`
	// PricePerHour and PricePerMonth sum the known prices of Karpenter's nodes (730 h a month).
	PricePerHour  float64 `json:"pricePerHour"`
	PricePerMonth float64 `json:"pricePerMonth"`
	PendingPods   int     `json:"pendingPods"`
	// Connection says whether the API server still answers; when it does not, everything below is
	// the last data received.
	Connection Connection `json:"connection"`
	// Forbidden are the kinds karpctl may not list and watch, with the panel that lacks them.
	Forbidden []Forbidden `json:"forbidden"`
	// Resources are the resources the node bars show (--resources), Sort the nodes' order.
	Resources []string      `json:"resources"`
	Sort      string        `json:"sort"`
	NodePools []NodePoolRow `json:"nodePools"`
	Nodes     []NodeRow     `json:"nodes"`
	Pending   []PendingPod  `json:"pending"`
	Next      Next          `json:"next"`
	Warnings  []string      `json:"warnings"`
}

// Karpenter is the installation and its leader.
type Karpenter struct {
	Namespace  string `json:"namespace,omitempty"`
	Deployment string `json:"deployment,omitempty"`
	Version    string `json:"version,omitempty"`
	// Lease is the same judgement as `karpctl lease`; nil when Karpenter was not found.
	Lease *lease.Status `json:"lease,omitempty"`
	// Leader is the leading pod ("" when none); LeaderFor how long it has held the lease.
	Leader    string        `json:"leader,omitempty"`
	LeaderFor units.Seconds `json:"leaderForSeconds,omitempty"`
	// Error says why Karpenter was not found.
	Error string `json:"error,omitempty"`
}

// Connection is the state of the API server connection.
type Connection struct {
	Lost bool `json:"lost"`
	// Since is when the first failure of the current outage was seen; Error the last one.
	Since *time.Time `json:"since,omitempty"`
	Error string     `json:"error,omitempty"`
}

// Forbidden is a kind karpctl may not list and watch.
type Forbidden struct {
	Resource string `json:"resource"`
	// Panel is what lacks it: header, nodepools, nodes or next.
	Panel string `json:"panel"`
	// Grant is the RBAC rule that would let top read it.
	Grant string `json:"grant"`
}

// Usage is a resource's requests against what is allocatable, in base units (cores, bytes, count).
type Usage struct {
	Requested   float64 `json:"requested"`
	Allocatable float64 `json:"allocatable"`
}

// Fill is Requested/Allocatable, 0 when nothing is allocatable.
func (u Usage) Fill() float64 {
	if u.Allocatable <= 0 {
		return 0
	}
	return u.Requested / u.Allocatable
}

// NodePoolRow is one NodePool.
type NodePoolRow struct {
	Name   string `json:"name"`
	Nodes  int    `json:"nodes"`
	Weight int32  `json:"weight,omitempty"`
	// Usage of each shown resource over the NodePool's nodes.
	Usage map[string]Usage `json:"usage"`
	// LimitUse is the largest status.resources/spec.limits fraction, of LimitResource; nil when the
	// NodePool sets no limits.
	LimitUse      *float64 `json:"limitUse,omitempty"`
	LimitResource string   `json:"limitResource,omitempty"`
	PricePerHour  float64  `json:"pricePerHour"`
	// BudgetAllowed is how many nodes Karpenter's disruption budgets allow to disrupt now, per reason
	// (Empty, Drifted, Underutilized); nil until disruption has been computed.
	BudgetAllowed map[string]int `json:"budgetAllowed,omitempty"`
	Ready         bool           `json:"ready"`
}

// NodeRow is one node.
type NodeRow struct {
	Name         string           `json:"name"`
	NodePool     string           `json:"nodePool,omitempty"`
	InstanceType string           `json:"instanceType,omitempty"`
	Zone         string           `json:"zone,omitempty"`
	CapacityType string           `json:"capacityType,omitempty"`
	PricePerHour *float64         `json:"pricePerHour,omitempty"`
	Created      time.Time        `json:"created"`
	Age          units.Seconds    `json:"ageSeconds"`
	Pods         int              `json:"pods"`
	Usage        map[string]Usage `json:"usage"`
	Cordoned     bool             `json:"cordoned,omitempty"`
	DoNotDisrupt bool             `json:"doNotDisrupt,omitempty"`
	Drifted      bool             `json:"drifted,omitempty"`
	// Disrupt is the method of the disruption command Karpenter would execute now that includes
	// this node ("" when none); Disruption says why the node goes or stays.
	Disrupt    string `json:"disrupt,omitempty"`
	Disruption string `json:"disruption,omitempty"`
}

// PendingPod is a pod waiting for a node, and what the plan does with it.
type PendingPod struct {
	Namespace string        `json:"namespace"`
	Name      string        `json:"name"`
	Age       units.Seconds `json:"ageSeconds"`
	// Plan is where the last plan puts it: a new NodeClaim, an existing node, or why it cannot.
	Plan string `json:"plan,omitempty"`
}

// Next is what Karpenter would do next, as last computed.
type Next struct {
	Launch  *LaunchSummary  `json:"launch,omitempty"`
	Disrupt *DisruptSummary `json:"disrupt,omitempty"`
	// Interval is how often they are recomputed (when something changed).
	Interval units.Seconds `json:"intervalSeconds"`
}

// Computed is when a prediction was made, how long it took, and its error.
type Computed struct {
	At    time.Time     `json:"at"`
	Took  units.Seconds `json:"tookSeconds"`
	Error string        `json:"error,omitempty"`
}

// LaunchSummary is plan's summary: the NodeClaims Karpenter would create for the pending pods.
type LaunchSummary struct {
	Computed
	PendingPods   int             `json:"pendingPods"`
	NewNodeClaims int             `json:"newNodeClaims"`
	PricePerHour  float64         `json:"pricePerHour"`
	Groups        []NodeClaimLine `json:"groups"`
	OnExisting    int             `json:"onExistingNodes"`
	Unschedulable int             `json:"unschedulable"`
}

// NodeClaimLine is a group of identical new NodeClaims.
type NodeClaimLine struct {
	NodePool     string  `json:"nodePool"`
	Count        int     `json:"count"`
	InstanceType string  `json:"instanceType"`
	Zone         string  `json:"zone,omitempty"`
	CapacityType string  `json:"capacityType,omitempty"`
	Pods         int     `json:"pods"`
	PricePerHour float64 `json:"pricePerHour"`
}

// DisruptSummary is disrupt's first command; Method is "" when Karpenter would disrupt nothing.
type DisruptSummary struct {
	Computed
	Method         string   `json:"method,omitempty"`
	Reason         string   `json:"reason,omitempty"`
	Decision       string   `json:"decision,omitempty"`
	Nodes          []string `json:"nodes"`
	Replacements   int      `json:"replacements"`
	SavingsPerHour float64  `json:"savingsPerHour"`
}
