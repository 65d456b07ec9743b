package topology

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/pdb"
)

// What the Deployment's spec promises: PDB, topology spread, anti-affinity, priority class,
// resources, leader election and the API priority-and-fairness FlowSchema.

func (a *audit) pdb() {
	if !a.in.PDBsRead {
		a.skip(CheckPDB, "PodDisruptionBudgets not read")
		return
	}
	podLabels := labels.Set(a.template.Labels)
	found := 0
	for _, p := range a.in.PDBs {
		if p.Namespace != "" && p.Namespace != a.r.Namespace {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil || !sel.Matches(podLabels) {
			continue
		}
		found++
		obj := "PodDisruptionBudget " + a.r.Namespace + "/" + p.Name
		// Blocks every drain: with every replica Ready, the disruption controller allows none.
		if allowed, err := pdb.Allowed(p.Spec, a.desired, a.desired); err != nil || a.desired == 0 || allowed > 0 {
			continue
		}
		if mu := p.Spec.MaxUnavailable; mu != nil {
			a.add("pdb-blocks-drain", fmt.Sprintf("PodDisruptionBudget %s has maxUnavailable %s: no replica may ever be evicted, so every node drain hangs", p.Name, mu.String()),
				"set maxUnavailable: 1 (the Helm chart's default)", obj)
		} else if ma := p.Spec.MinAvailable; ma != nil {
			a.add("pdb-blocks-drain", fmt.Sprintf("PodDisruptionBudget %s has minAvailable %s with %d replica(s): no replica may ever be evicted, so every node drain hangs", p.Name, ma.String(), a.desired),
				"use maxUnavailable: 1 instead (the Helm chart's default)", obj)
		}
	}
	if found == 0 {
		a.add("pdb-missing", "no PodDisruptionBudget selects the Karpenter pods: a drain or upgrade may evict every replica at once",
			"add a PodDisruptionBudget with maxUnavailable: 1 selecting the pods (the Helm chart has podDisruptionBudget enabled by default)", "")
	}
}

func (a *audit) spread() {
	var zone []corev1.TopologySpreadConstraint
	for _, c := range a.template.Spec.TopologySpreadConstraints {
		if c.TopologyKey == ZoneLabel {
			zone = append(zone, c)
		}
	}
	if len(zone) == 0 {
		a.add("spread-missing", "no topologySpreadConstraint on topology.kubernetes.io/zone: the scheduler may put every replica in one zone",
			"add topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: <the pod labels>}]", "")
		return
	}
	for _, c := range zone {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			return
		}
	}
	a.add("spread-schedule-anyway", "the zone topologySpreadConstraint is ScheduleAnyway: a preference, so replicas may still land in one zone",
		"set whenUnsatisfiable: DoNotSchedule on the topology.kubernetes.io/zone constraint", "")
}

func (a *audit) antiAffinity() {
	if a.hostAntiAffinity {
		return
	}
	msg := "no required podAntiAffinity on kubernetes.io/hostname: two replicas may share a node"
	if aa := a.template.Spec.Affinity; aa != nil && aa.PodAntiAffinity != nil && len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		msg += " (a preferred anti-affinity is only a hint)"
	}
	a.add("anti-affinity-missing", msg,
		"add affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution: [{topologyKey: kubernetes.io/hostname, labelSelector: <the pod labels>}]", "")
}

func (a *audit) priorityClass() {
	switch pc := a.template.Spec.PriorityClassName; pc {
	case "":
		a.add("priority-class-missing", "no priorityClassName: under node pressure Karpenter can be preempted or evicted before the workloads it should make room for",
			"set priorityClassName: system-cluster-critical (the Helm chart's default)", "")
	case SystemClusterCrit, systemNodeCritical:
	default:
		a.add("priority-class-other", fmt.Sprintf("priorityClassName is %s; system-cluster-critical is expected", pc),
			"set priorityClassName: system-cluster-critical unless your own class ranks above every workload", "")
	}
}

func (a *audit) resources() {
	c := discovery.ControllerContainer(&a.template.Spec)
	if c == nil {
		a.skip(CheckResources, "the template has no container")
		return
	}
	req := c.Resources.Requests
	lim := c.Resources.Limits
	eff := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := req[name]; ok {
			return q, true
		}
		q, ok := lim[name] // the API server defaults a missing request to the limit
		return q, ok
	}
	cpu, hasCPU := eff(corev1.ResourceCPU)
	mem, hasMem := eff(corev1.ResourceMemory)
	obj := a.obj + " container " + c.Name
	if !hasCPU || !hasMem {
		var missing []string
		if !hasCPU {
			missing = append(missing, "cpu")
		}
		if !hasMem {
			missing = append(missing, "memory")
		}
		a.add("requests-missing", fmt.Sprintf("container %s has no %s request: the leader can be starved or evicted first under node pressure", c.Name, strings.Join(missing, " or ")),
			"set resources.requests (the getting-started guide uses cpu: 1, memory: 1Gi, with limits equal to requests)", obj)
	}
	var low []string
	if hasCPU && cpu.Cmp(StandbyCPUFloor) < 0 {
		low = append(low, "cpu "+cpu.String())
	}
	if hasMem && mem.Cmp(StandbyMemoryFloor) < 0 {
		low = append(low, "memory "+mem.String())
	}
	if len(low) > 0 {
		a.add("requests-below-standby-floor", fmt.Sprintf("container %s requests %s, below even the standby floor (0.5 CPU, 512Mi); one Deployment template serves the leader and the standbys, so the leader gets these requests too", c.Name, strings.Join(low, ", ")),
			"raise requests to at least cpu: 500m, memory: 512Mi (size for the leader: the getting-started guide uses 1 CPU / 1Gi)", obj)
	}
	if hasMem {
		ml, ok := lim[corev1.ResourceMemory]
		switch {
		case !ok:
			a.add("memory-limit-differs", fmt.Sprintf("container %s has no memory limit: Karpenter's GOMEMLIMIT (MEMORY_LIMIT from limits.memory) is unset, and the node may OOM-kill it under pressure", c.Name),
				fmt.Sprintf("set limits.memory equal to the request (%s); one template serves leader and standby, so size it for the leader", mem.String()), obj)
		case ml.Cmp(mem) != 0:
			a.add("memory-limit-differs", fmt.Sprintf("container %s memory limit %s differs from its request %s: the pod is Burstable and may be OOM-killed above the request under node pressure", c.Name, ml.String(), mem.String()),
				"set limits.memory equal to requests.memory; one template serves leader and standby, so size both for the leader", obj)
		}
	}
}

func (a *audit) election() {
	if a.k.LeaderElectionDisabled && a.desired > 1 {
		a.add("leader-election-disabled", fmt.Sprintf("%d replicas with DISABLE_LEADER_ELECTION=true: every replica acts as leader and they fight over the same nodes", a.desired),
			"remove DISABLE_LEADER_ELECTION (default false), or run exactly one replica", "")
	}
	if a.k.WarmupDisabled && !a.k.LeaderElectionDisabled && a.desired > 1 {
		a.add("warmup-disabled", "controller warmup is disabled (DISABLE_CONTROLLER_WARMUP defaults to true): a standby starts its caches only after it wins the lease, so failover is slower",
			"set DISABLE_CONTROLLER_WARMUP=false so standbys pre-populate their caches", "")
	}
}

func (a *audit) flowSchema() {
	ns := a.r.Namespace
	if ns == "kube-system" {
		return // kube-system's service accounts are covered by the built-in system FlowSchemas
	}
	switch {
	case a.in.FlowSchemasErr != "":
		a.skip(CheckFlowSchema, a.in.FlowSchemasErr)
		a.add("flowschema-unknown", "could not check API Priority & Fairness FlowSchemas: "+a.in.FlowSchemasErr,
			"grant list on flowschemas.flowcontrol.apiserver.k8s.io to check, or verify by hand: kubectl get flowschemas", "")
		return
	case !a.in.FlowSchemasRead:
		a.skip(CheckFlowSchema, "FlowSchemas not read (offline: the cluster may have one)")
		return
	}
	sa := a.template.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	for _, fs := range a.in.FlowSchemas {
		for _, rule := range fs.Spec.Rules {
			for _, s := range rule.Subjects {
				switch {
				case s.Kind == flowcontrolv1.SubjectKindServiceAccount && s.ServiceAccount != nil &&
					s.ServiceAccount.Namespace == ns && (s.ServiceAccount.Name == sa || s.ServiceAccount.Name == "*"):
					return
				case s.Kind == flowcontrolv1.SubjectKindGroup && s.Group != nil &&
					(s.Group.Name == "system:serviceaccounts:"+ns):
					return
				}
			}
		}
	}
	a.add("flowschema-missing", fmt.Sprintf("Karpenter runs in namespace %s, and no FlowSchema matches its service account %s/%s: under API load its lease renewals queue with ordinary traffic (kube-system is covered by the built-in system FlowSchemas)", ns, ns, sa),
		"apply the FlowSchemas from Karpenter's docs (karpenter-leader-election and karpenter-workload, service account "+ns+"/"+sa+"), or install into kube-system", "")
}

// hasRequiredHostAntiAffinity: a required anti-affinity term on the hostname label selecting the pods.
func hasRequiredHostAntiAffinity(spec *corev1.PodSpec, podLabels map[string]string) bool {
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		return false
	}
	for _, t := range spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if t.TopologyKey != HostnameLabel || t.LabelSelector == nil {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err == nil && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}
