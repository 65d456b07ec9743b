package alerts

import (
	"fmt"

	"github.com/prometheus/common/model"
)

// leaderElectionGroup records how many replicas lead and how often the lead moves, and alerts on no
// leader, several leaders, flapping and missing metrics.
func leaderElectionGroup(o Options) Group {
	return Group{Name: "karpenter-leader-election", Rules: []Rule{
		{
			Record: RecordLeaders,
			Expr:   fmt.Sprintf("sum by (name) (%s)", o.leaderSeries()),
			Why:    "Number of Karpenter replicas that report leading the lease (1 on the leader, 0 on followers): 1 is healthy.",
		},
		{
			Record: RecordSwitches(o.SwitchWindow),
			Expr:   fmt.Sprintf("sum by (name) (changes(%[1]s[%[2]s]) - resets(%[1]s[%[2]s]))", o.leaderSeries(), o.switchWindow()),
			Why: "Leader switches in the window: each switch turns one replica's gauge from 0 to 1, and changes() − resets()\n" +
				"counts exactly those rises (resets() counts the falls). A restarted container keeps its pod and\n" +
				"instance labels, so its series continues. A brand-new pod whose first scrape already reads 1 is not\n" +
				"counted: this undercounts, never overcounts.",
		},
		{
			Record: "karpenter:leader_election_switches:changes1h",
			Expr:   fmt.Sprintf("sum by (name) (changes(%[1]s[1h]) - resets(%[1]s[1h]))", o.leaderSeries()),
			Why:    "The switch rate per hour, for dashboards and for trends a short window misses.",
		},
		o.alert(noLeaderAlert(o)),
		o.alert(multipleLeadersAlert(o)),
		o.alert(leaderFlappingAlert(o)),
		o.alert(leaderMetricsAbsentAlert(o)),
	}}
}

func noLeaderAlert(o Options) Rule {
	noLeaderFor := NoLeaderFor(o)
	dur, retry, scrape := secs(o.LeaseDuration), secs(o.RetryPeriod), secs(o.ScrapeInterval)
	return Rule{
		Alert:  "KarpenterNoLeader",
		Expr:   fmt.Sprintf("max by (name) (%s) < 1", o.leaderSeries()),
		For:    model.Duration(noLeaderFor).String(),
		Labels: map[string]string{"severity": "critical"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("No Karpenter replica has led lease %s for %s", o.leaseRef(), model.Duration(noLeaderFor)),
			"description": fmt.Sprintf("Every scraped Karpenter replica (job %q) reports leader_election_master_status 0 for lease {{ $labels.name }}: "+
				"nothing provisions or disrupts nodes and pending pods wait. A failover normally completes within leaseDuration + retryPeriod (%s + %s). "+
				"Remediation: `kubectl karpctl lease` shows the holder and its renew age; check the replicas' logs for "+
				"\"Attempting to acquire leader lease\" and API errors (RBAC on coordination.k8s.io leases, API server reachability, throttling); "+
				"if the holder pod is gone, the lease expires by itself after %s.", o.Job, dur, retry, dur),
		},
		Why: fmt.Sprintf("for %s = 2 × (leaseDuration %s (%s) + retryPeriod %s) + 2 × scrape interval %s, rounded up to the minute:\n"+
			"a follower takes over within leaseDuration + retryPeriod of the leader's last renewal (measured 15.6–19.5 s\n"+
			"for 15 s + 2 s), and Prometheus sees both the dead leader go stale and the new one lead up to a scrape late.\n"+
			"One ordinary failover never fires this; a lease nobody can take does. If every replica is gone,\n"+
			"max() returns nothing and KarpenterLeaderMetricsAbsent fires instead.",
			model.Duration(noLeaderFor), dur, o.LeaseDurationSource, retry, scrape),
	}
}

func multipleLeadersAlert(o Options) Rule {
	multiFor := MultipleLeadersFor(o)
	return Rule{
		Alert:  "KarpenterMultipleLeaders",
		Expr:   fmt.Sprintf("sum by (name) (%s) > 1", o.leaderSeries()),
		For:    model.Duration(multiFor).String(),
		Labels: map[string]string{"severity": "critical"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("More than one Karpenter replica claims lease %s", o.leaseRef()),
			"description": "Several Karpenter replicas report leader_election_master_status 1 for lease {{ $labels.name }} at once: " +
				"two leaders launch and delete nodes independently (duplicate NodeClaims, conflicting disruption). " +
				"Remediation: check for a second Karpenter installation with the same lease name in another namespace, " +
				"a replica with DISABLE_LEADER_ELECTION=true, or clock skew between nodes; `kubectl karpctl lease` names the real holder. " +
				"Scale the extra installation to zero or give it its own lease (LEADER_ELECTION_NAME).",
		},
		Why: fmt.Sprintf("for %s = 2 × scrape interval %s (at least 1m): a real overlap is impossible without clock skew because\n"+
			"the old leader stops after renewDeadline (10 s) < leaseDuration (%s). What Prometheus can see is scrape skew:\n"+
			"the old leader's last 1 lingers until its next scrape. Longer than that is a second leader.",
			model.Duration(multiFor), secs(o.ScrapeInterval), secs(o.LeaseDuration)),
	}
}

func leaderFlappingAlert(o Options) Rule {
	win := o.switchWindow()
	return Rule{
		Alert:  "KarpenterLeaderFlapping",
		Expr:   fmt.Sprintf("%s >= %d", RecordSwitches(o.SwitchWindow), o.SwitchThreshold),
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("Karpenter's leader changed %d or more times in %s (lease %s)", o.SwitchThreshold, win, o.leaseRef()),
			"description": fmt.Sprintf("Lease {{ $labels.name }} changed hands at least %d times in %s, more than a rollout explains. "+
				"Every switch stops provisioning for up to leaseDuration + retryPeriod (%s + %s) while caches rebuild. "+
				"Remediation: find why leaders lose the lease — OOMKilled or crashing pods (`kubectl karpctl lease` shows restarts), "+
				"renewals failing on API errors or throttling (see KarpenterAPIErrors/KarpenterAPIThrottled), evictions or node churn "+
				"under the Karpenter pods; `kubectl karpctl lease --watch` records each handover and its gap.",
				o.SwitchThreshold, win, secs(o.LeaseDuration), secs(o.RetryPeriod)),
		},
		Why: fmt.Sprintf("threshold %d switches in %s (--switch-threshold/--switch-window): a RollingUpdate replaces each replica\n"+
			"once and only replacing the leader moves the lease, so a rollout of N replicas causes at most N switches;\n"+
			"the default is replicas + 1. No `for`: the window already integrates over time.", o.SwitchThreshold, win),
	}
}

func leaderMetricsAbsentAlert(o Options) Rule {
	return Rule{
		Alert:  "KarpenterLeaderMetricsAbsent",
		Expr:   fmt.Sprintf("absent(%s)", o.leaderSeries()),
		For:    model.Duration(NoLeaderFor(o)).String(),
		Labels: map[string]string{"severity": "warning"},
		Annotations: map[string]string{
			"summary": fmt.Sprintf("No Karpenter replica reports leader_election_master_status for lease %s", o.leaseRef()),
			"description": fmt.Sprintf("Prometheus has no leader_election_master_status{job=%q,name=%q}: either every Karpenter replica is down "+
				"(then nothing provisions nodes) or Karpenter is not scraped under job %q. "+
				"Remediation: `kubectl karpctl lease` shows the replicas; check the ServiceMonitor/scrape config targets port 8080 /metrics "+
				"and regenerate these rules with the right --job; or run `kubectl karpctl lease --serve :9090` and scrape that instead.", o.Job, o.LeaseName, o.Job),
		},
		Why: "Without any series the two alerts above cannot fire (max() and sum() of nothing is nothing); this one\n" +
			"covers 'all replicas down' and 'not scraped', with the same wait as KarpenterNoLeader.",
	}
}
