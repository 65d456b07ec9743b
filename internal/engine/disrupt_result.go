package engine

import "github.com/karpctl/karpctl/internal/engine/karpenter"

// DisruptResult is what Karpenter's disruption controller would do now. Its JSON form is karpctl's
// stable disrupt schema.
type DisruptResult struct {
	Catalog string `json:"catalog"`
	// Commands are the disruption commands, the first being the one Karpenter would execute now;
	// with --all, every method's. Empty when the cluster is consolidated.
	Commands []DisruptionCommand `json:"commands"`
	// Budgets are the disruptions each NodePool's budgets allow now, per reason.
	Budgets []Budget `json:"budgets"`
	// Staying gives every other Karpenter node the reason it stays.
	Staying  []NodeStay    `json:"staying"`
	Warnings []Warning     `json:"warnings"`
	Totals   DisruptTotals `json:"totals"`
}

// DisruptionCommand is one command of a disruption method.
type DisruptionCommand struct {
	// Method is Karpenter's method: Emptiness, StaticDrift, Drift, MultiNodeConsolidation or
	// SingleNodeConsolidation.
	Method string `json:"method"`
	// Reason is the disruption reason whose budget it uses: Empty, Drifted or Underutilized.
	Reason string `json:"reason"`
	// Decision is delete, replace or terminate-first.
	Decision   string          `json:"decision"`
	Candidates []CandidateNode `json:"candidates"`
	// Replacements are the NodeClaims launched before the candidates go (empty for delete).
	Replacements []NodeClaimPlan `json:"replacements"`
	// SavingsPerHour is the candidates' price minus the replacements' cheapest launch price.
	SavingsPerHour float64 `json:"savingsPerHour"`
}

// CandidateNode is one node a command disrupts.
type CandidateNode struct {
	Node         string  `json:"node"`
	NodeClaim    string  `json:"nodeClaim,omitempty"`
	NodePool     string  `json:"nodePool"`
	InstanceType string  `json:"instanceType"`
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	PricePerHour float64 `json:"pricePerHour"`
	// Pods are the pods that would move, and where Karpenter's simulation puts them: an existing
	// node's name or "replacement N (TYPE)".
	Pods []PodMove `json:"pods"`
}

// PodMove is a pod of a candidate and where it would land.
type PodMove struct {
	Pod string `json:"pod"`
	To  string `json:"to"`
}

// Budget is what one NodePool's disruption budgets allow for one reason now.
type Budget struct {
	NodePool string `json:"nodePool"`
	Reason   string `json:"reason"`
	// Allowed is how many more nodes may be disrupted now (Karpenter's BuildDisruptionBudgetMapping).
	Allowed int `json:"allowed"`
	// Nodes is how many of the NodePool's nodes the budget counts; Disrupting, how many are already
	// being disrupted.
	Nodes      int `json:"nodes"`
	Disrupting int `json:"disrupting"`
	// Active lists the budgets in force now ("nodes: 10%", with schedule and duration when set).
	Active []string `json:"active"`
}

// NodeStay is a Karpenter node no command disrupts, and why.
type NodeStay struct {
	Node      string `json:"node"`
	NodeClaim string `json:"nodeClaim,omitempty"`
	NodePool  string `json:"nodePool,omitempty"`
	Reason    string `json:"reason"`
	// Source is "karpenter" when the reason is the message of Karpenter's own event
	// (DisruptionBlocked, Unconsolidatable), "karpctl" when karpctl derived it from the state.
	Source string `json:"source"`
}

// DisruptTotals sums the first command and the nodes.
type DisruptTotals struct {
	KarpenterNodes int     `json:"karpenterNodes"`
	Disrupted      int     `json:"disrupted"`
	Replacements   int     `json:"replacements"`
	Staying        int     `json:"staying"`
	SavingsPerHour float64 `json:"savingsPerHour"`
}

// DisruptReport is what `disrupt --dry-run` prints. Its JSON form is the stable disrupt schema: these
// fields plus DisruptResult's.
type DisruptReport struct {
	// Mode is "live" (read from the cluster, plus any -f files) or "offline" (files only).
	Mode string `json:"mode"`
	// Engine is the bundled Karpenter module and version whose disruption methods decided.
	Engine        string `json:"engine"`
	EngineVersion string `json:"engineVersion"`
	// KarpenterVersion is the image tag of the cluster's Karpenter, when found (live mode).
	KarpenterVersion string   `json:"karpenterVersion,omitempty"`
	Files            []string `json:"files,omitempty"`
	// IgnoreConsolidateAfter says every NodeClaim was treated as Consolidatable.
	IgnoreConsolidateAfter bool `json:"ignoreConsolidateAfter,omitempty"`
	// KarpenterSettings are every setting Karpenter's code ran with and where each came from.
	KarpenterSettings *karpenter.Settings `json:"karpenterSettings,omitempty"`
	*DisruptResult
}
