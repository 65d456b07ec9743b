package topology

// Rule describes one finding ID: its checklist section, default severity and a one-line description.
// IDs are stable; SARIF output lists them as rules.
type Rule struct {
	ID       string   `json:"id"`
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	// Spec rules judge the Deployment/PDB alone, so they give the same answer offline (-f).
	Spec  bool   `json:"spec"`
	Short string `json:"short"`
}

// Check names (CheckResult.Check and Finding.Check).
const (
	CheckReplicas      = "replicas"
	CheckReadiness     = "readiness"
	CheckZones         = "zones"
	CheckHosts         = "hosts"
	CheckRacks         = "racks"
	CheckIsolation     = "isolation"
	CheckIsolationSpec = "isolation-affinity"
	CheckSystemNodes   = "system-nodes"
	CheckPDB           = "pdb"
	CheckSpread        = "spread"
	CheckAntiAffinity  = "anti-affinity"
	CheckPriority      = "priority-class"
	CheckResources     = "resources"
	CheckElection      = "election"
	CheckFlowSchema    = "flowschema"
)

// Rules is the catalogue of finding IDs, in report order.
var Rules = []Rule{
	{"replicas-below-profile", CheckReplicas, Error, true, "Fewer replicas than the --profile asks for"},
	{"replica-pending", CheckReadiness, Warning, false, "A replica is not scheduled"},
	{"replicas-not-ready", CheckReadiness, Warning, false, "Fewer ready replicas than desired"},
	{"zones-single", CheckZones, Error, false, "All ready replicas run in one zone"},
	{"zones-below-profile", CheckZones, Error, false, "Ready replicas span fewer zones than the profile asks for"},
	{"zones-unavailable", CheckZones, Warning, false, "The cluster offers eligible nodes in one zone only"},
	{"hosts-shared", CheckHosts, Error, false, "Two or more replicas run on one node"},
	{"racks-shared", CheckRacks, Error, false, "All replicas run in one rack"},
	{"racks-unknown", CheckRacks, Info, false, "Rack spread could not be checked: nodes carry no rack label"},
	{"isolation-karpenter-node", CheckIsolation, Error, false, "A replica runs on a node Karpenter manages"},
	{"isolation-node-affinity", CheckIsolationSpec, Warning, true, "No required node affinity keeps replicas off Karpenter's nodes"},
	{"isolation-outside-system-nodes", CheckSystemNodes, Warning, false, "A replica runs outside the --system-node-selector nodes"},
	{"isolation-shared-with-workloads", CheckSystemNodes, Warning, false, "A replica shares its node with ordinary workload pods"},
	{"pdb-missing", CheckPDB, Warning, true, "No PodDisruptionBudget selects the replicas"},
	{"pdb-blocks-drain", CheckPDB, Warning, true, "The PodDisruptionBudget allows no disruption"},
	{"spread-missing", CheckSpread, Warning, true, "No topologySpreadConstraint on the zone label"},
	{"spread-schedule-anyway", CheckSpread, Warning, true, "The zone spread constraint is ScheduleAnyway"},
	{"anti-affinity-missing", CheckAntiAffinity, Warning, true, "No required podAntiAffinity on kubernetes.io/hostname"},
	{"priority-class-missing", CheckPriority, Warning, true, "No priorityClassName"},
	{"priority-class-other", CheckPriority, Info, true, "priorityClassName is not system-cluster-critical"},
	{"requests-missing", CheckResources, Warning, true, "CPU or memory requests are not set"},
	{"requests-below-standby-floor", CheckResources, Warning, true, "Requests are below the standby floor (0.5 CPU, 512Mi)"},
	{"memory-limit-differs", CheckResources, Info, true, "Memory limit differs from the memory request"},
	{"leader-election-disabled", CheckElection, Error, true, "Several replicas with leader election disabled"},
	{"warmup-disabled", CheckElection, Info, true, "Controller warmup is disabled (slower failover)"},
	{"flowschema-missing", CheckFlowSchema, Info, false, "No API Priority & Fairness FlowSchema for Karpenter's namespace"},
	{"flowschema-unknown", CheckFlowSchema, Info, false, "FlowSchemas could not be read"},
}

// ruleIndex is each rule's position in Rules, by ID: the report and SARIF order.
var ruleIndex = indexRules(Rules)

func indexRules(rules []Rule) map[string]int {
	index := make(map[string]int, len(rules))
	for i, r := range rules {
		if _, dup := index[r.ID]; !dup {
			index[r.ID] = i
		}
	}
	return index
}

// RuleByID looks a rule up.
func RuleByID(id string) (Rule, bool) {
	if i, ok := ruleIndex[id]; ok {
		return Rules[i], true
	}
	return Rule{}, false
}

// IsSpec reports whether the finding judges the manifests alone (same answer live and offline).
func (f Finding) IsSpec() bool {
	r, ok := RuleByID(f.ID)
	return ok && r.Spec
}
