// Package topology audits where Karpenter's replicas run and what its Deployment promises against the
// operator's HA checklist: replica count per profile, zone/host/rack spread, isolation from the nodes
// Karpenter manages, spec guards (PDB, spread, anti-affinity, priority class), resources, election
// settings, and what a zone or host loss would leave. Evaluate judges an Input; Read gathers it from a
// cluster, ReadManifests and OfflineInput from manifests. Nothing here prints.
package topology

import "fmt"

// SchemaVersion names the JSON/YAML schema of Report; bump it on incompatible changes.
const SchemaVersion = "karpctl.dev/audit-topology/v1"

// Profile is the availability target (--profile).
type Profile string

const (
	ProfileTest     Profile = "test"     // 1 replica is enough
	ProfileBasic    Profile = "basic"    // 2 replicas on 2 hosts and, where possible, 2 zones
	ProfileCritical Profile = "critical" // 3 replicas across min(3, zones with eligible nodes) zones
)

// ParseProfile validates --profile.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case ProfileTest, ProfileBasic, ProfileCritical:
		return p, nil
	}
	return "", fmt.Errorf("--profile %q: want test, basic or critical", s)
}

// WantReplicas is the replica count a profile asks for.
func (p Profile) WantReplicas() int32 {
	switch p {
	case ProfileTest:
		return 1
	case ProfileCritical:
		return 3
	}
	return 2
}

// Severity of a finding. Order matters: see Rank.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Rank orders severities: error 3, warning 2, info 1.
func (s Severity) Rank() int {
	switch s {
	case Error:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

// Finding is one problem (or one thing that could not be checked), with what to do about it.
type Finding struct {
	// ID is stable across releases (see Rules); SARIF uses it as ruleId.
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	// Check is the checklist section: replicas, zones, hosts, racks, isolation, spec, resources, election.
	Check       string `json:"check"`
	Message     string `json:"message"`
	Remediation string `json:"remediation"`
	// Object is what the finding is about, "Kind namespace/name" (or "Kind name" when cluster-scoped).
	Object string `json:"object"`
}

// CheckStatus says whether a checklist section ran. A check that could not run is never a pass.
type CheckStatus string

const (
	Passed  CheckStatus = "passed"
	Failed  CheckStatus = "failed"
	Skipped CheckStatus = "skipped"
)

// CheckResult is the outcome of one checklist section.
type CheckResult struct {
	Check  string      `json:"check"`
	Status CheckStatus `json:"status"`
	// Reason says why a check was skipped.
	Reason string `json:"reason,omitempty"`
}

// Placement is one Karpenter replica and where it runs.
type Placement struct {
	Pod   string `json:"pod"`
	Role  string `json:"role"` // leader | follower (a standby) | unknown (no lease read) | pending — the roles lease uses
	Phase string `json:"phase"`
	Ready bool   `json:"ready"`
	Node  string `json:"node,omitempty"`
	Zone  string `json:"zone,omitempty"`
	// Rack is the value of the first --rack-label the node carries.
	Rack string `json:"rack,omitempty"`
	// KarpenterManaged: the node carries karpenter.sh/nodepool or karpenter.sh/registered, or a
	// NodeClaim owns it.
	KarpenterManaged bool `json:"karpenterManaged"`
	// SystemNode is set only with --system-node-selector.
	SystemNode *bool `json:"systemNode,omitempty"`
	// PendingReason is the scheduler's message for an unscheduled replica.
	PendingReason string `json:"pendingReason,omitempty"`
}

// LossScenario is the what-if of losing one zone or one host.
type LossScenario struct {
	// Domain is the zone or node name.
	Domain string `json:"domain"`
	// Replicas are the ready replicas in the domain; Remaining the ready replicas elsewhere.
	Replicas  int `json:"replicas"`
	Remaining int `json:"remaining"`
	// LeaderLost is nil when the leader is unknown (no lease read).
	LeaderLost *bool `json:"leaderLost,omitempty"`
	// Outcome: "unaffected", "failover" (leader lost, a standby takes over after the lease expires),
	// "degraded" (standby lost, leader stays), "outage" (no ready replica remains).
	Outcome string `json:"outcome"`
}

// Replicas counts the Deployment's replicas.
type Replicas struct {
	Desired int32 `json:"desired"`
	Ready   int   `json:"ready"`
	Pending int   `json:"pending"`
	// Observed is the number of (non-terminating) pods read; 0 offline without a pod dump.
	Observed int `json:"observed"`
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
	// Verdict: "pass" (no errors or warnings), "warnings", or "errors".
	Verdict string `json:"verdict"`
}

// Report is the audit's answer: the JSON/YAML schema of `audit-topology -o json|yaml`.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	// Mode is "live" (read from the cluster) or "offline" (-f manifests).
	Mode      string   `json:"mode"`
	Profile   Profile  `json:"profile"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Replicas  Replicas `json:"replicas"`
	// Leader is the leading pod; empty when unknown.
	Leader string `json:"leader,omitempty"`
	// EligibleZones are the zones with nodes the replicas may run on (not Karpenter-managed, matching
	// the template's node selector and required node affinity by labels).
	EligibleZones []string       `json:"eligibleZones"`
	RackLabels    []string       `json:"rackLabels,omitempty"`
	Placements    []Placement    `json:"placements"`
	Findings      []Finding      `json:"findings"`
	Checks        []CheckResult  `json:"checks"`
	ZoneLoss      []LossScenario `json:"zoneLoss"`
	HostLoss      []LossScenario `json:"hostLoss"`
	Summary       Summary        `json:"summary"`
	// FailOn is Options.FailOn, the policy Failing judges by; "" never fails.
	FailOn Severity `json:"-"`
}

// Failing counts the findings that fail the audit under FailOn (none when FailOn is "").
func (r Report) Failing() int {
	if r.FailOn == "" {
		return 0
	}
	return r.AtOrAbove(r.FailOn)
}

// AtOrAbove counts findings whose severity is at least min.
func (r Report) AtOrAbove(min Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity.Rank() >= min.Rank() {
			n++
		}
	}
	return n
}

// Check returns the result of one checklist section.
func (r Report) Check(name string) (CheckResult, bool) {
	for _, c := range r.Checks {
		if c.Check == name {
			return c, true
		}
	}
	return CheckResult{}, false
}
