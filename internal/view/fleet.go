package view

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/topology"
)

// FleetCounts is the fleet's count line, e.g. "3 clusters: 1 healthy, 1 unhealthy, 1 unreachable";
// ok names the clusters that answered with exit 0 ("healthy", or "answered" for version).
func FleetCounts(s fleet.Summary, ok string) string {
	noun := "clusters"
	if s.Total == 1 {
		noun = "cluster"
	}
	text := fmt.Sprintf("%d %s: %d %s, %d unhealthy, %d unreachable", s.Total, noun, s.Healthy, ok, s.Unhealthy, s.Unreachable)
	if s.Failed > 0 {
		text += fmt.Sprintf(", %d without an answer (Karpenter not found or bad input)", s.Failed)
	}
	return text
}

// fleetColumns are a fleet table's columns after CONTEXT; wide ones are added by -o wide (then TOOK,
// how long the context took to answer).
type fleetColumns struct {
	ok          string
	headers     []string
	wideHeaders []string
}

// fleetTable prints one row per context — the row's cells, or ERROR and the error spanning the rest —
// then the count line.
func fleetTable[T any](w io.Writer, s output.Styles, outs []fleet.Outcome[T], cols fleetColumns, wide bool, row func(T) (cells, wideCells []string)) error {
	t := output.Table{Headers: append([]string{"CONTEXT"}, cols.headers...)}
	if wide {
		t.Headers = append(append(t.Headers, cols.wideHeaders...), "TOOK")
	}
	for _, o := range outs {
		if o.Result == nil {
			t.Rows = append(t.Rows, []string{o.Context, s.Fail.Render("ERROR"), o.Error})
			continue
		}
		cells, wideCells := row(*o.Result)
		r := append([]string{o.Context}, cells...)
		if wide {
			r = append(append(r, wideCells...), o.Duration.Duration().Round(time.Millisecond).String())
		}
		t.Rows = append(t.Rows, r)
	}
	if err := t.Render(w, s); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", FleetCounts(fleet.Summarize(outs), cols.ok))
	return err
}

// LeaseFleet is `lease --contexts`: verdict, leader pod, node, zone, renew age and transitions per
// context; wide adds the lease, replicas, ready candidates, duration and the verdict's reason.
func LeaseFleet(w io.Writer, s output.Styles, outs []fleet.Outcome[lease.Status], wide bool) error {
	cols := fleetColumns{ok: "healthy",
		headers:     []string{"VERDICT", "LEADER", "NODE", "ZONE", "RENEWED", "TRANSITIONS"},
		wideHeaders: []string{"LEASE", "REPLICAS", "READY", "DURATION", "REASON"}}
	return fleetTable(w, s, outs, cols, wide, func(st lease.Status) ([]string, []string) {
		leader, node, zone, renewed, transitions := "-", "-", "-", "-", "-"
		if h := st.Holder; h != nil {
			leader, node, zone = cmp.Or(h.Pod, st.HolderIdentity), orNone(h.Node), orNone(h.Zone)
		} else if st.HolderIdentity != "" {
			leader = st.HolderIdentity
		}
		if st.RenewTime != nil {
			renewed = lease.Round(st.RenewAge.Duration()).String() + " ago"
		}
		if st.Verdict != lease.Disabled && st.Verdict != lease.Missing {
			transitions = fmt.Sprint(st.Transitions)
		}
		ready := 0
		for _, c := range st.Candidates {
			if c.Ready && !c.Deleting {
				ready++
			}
		}
		duration := "-"
		if st.LeaseDuration > 0 {
			duration = st.LeaseDuration.String()
		}
		return []string{s.Status(string(st.Verdict)), leader, node, zone, renewed, transitions},
			[]string{st.Namespace + "/" + st.Name, fmt.Sprint(st.Replicas), fmt.Sprintf("%d/%d", ready, len(st.Candidates)), duration, st.Reason}
	})
}

// HealthFleet is `health --contexts`: the verdict, the checks counted by status and the first FAIL
// per context; wide adds the Deployment, the lease and the first WARN.
func HealthFleet(w io.Writer, s output.Styles, outs []fleet.Outcome[health.Report], wide bool) error {
	cols := fleetColumns{ok: "healthy",
		headers:     []string{"VERDICT", "OK", "WARN", "FAIL", "SKIPPED", "FIRST FAIL"},
		wideHeaders: []string{"DEPLOYMENT", "LEASE", "FIRST WARN"}}
	return fleetTable(w, s, outs, cols, wide, func(r health.Report) ([]string, []string) {
		n := map[health.Status]int{}
		for _, c := range r.Checks {
			n[c.Status]++
		}
		return []string{s.Status(string(r.Verdict)), fmt.Sprint(n[health.OK]), fmt.Sprint(n[health.Warn]), fmt.Sprint(n[health.Fail]), fmt.Sprint(n[health.Skipped]), cmp.Or(FirstCheck(r, health.Fail), "-")},
			[]string{r.Namespace + "/" + r.Deployment, r.Lease, cmp.Or(FirstCheck(r, health.Warn), "-")}
	})
}

// FirstCheck is "name: message" of the report's first check with status st; empty when none has it.
func FirstCheck(r health.Report, st health.Status) string {
	for _, c := range r.Checks {
		if c.Status == st {
			return c.Name + ": " + c.Message
		}
	}
	return ""
}

// AuditFleet is `audit-topology --contexts`: the profile verdict, errors and warnings, the zones the
// ready replicas span and what losing the leader's zone would do; wide adds the Deployment, profile,
// ready/desired replicas, info findings, skipped checks and the leader.
func AuditFleet(w io.Writer, s output.Styles, outs []fleet.Outcome[topology.Report], wide bool) error {
	cols := fleetColumns{ok: "healthy",
		headers:     []string{"VERDICT", "ERRORS", "WARNINGS", "ZONES", "LEADER ZONE LOST"},
		wideHeaders: []string{"DEPLOYMENT", "PROFILE", "READY", "INFO", "SKIPPED", "LEADER"}}
	return fleetTable(w, s, outs, cols, wide, func(r topology.Report) ([]string, []string) {
		var zones []string
		leaderZone, leaderKnown := "", false
		for _, p := range r.Placements {
			if p.Ready && p.Zone != "" && !slices.Contains(zones, p.Zone) {
				zones = append(zones, p.Zone)
			}
			if p.Role == "leader" {
				leaderZone, leaderKnown = p.Zone, true
			}
		}
		slices.Sort(zones)
		spanned := fmt.Sprint(len(zones))
		if len(zones) > 0 {
			spanned += " (" + strings.Join(zones, ", ") + ")"
		}
		outcome := "unknown (no leader)"
		switch {
		case leaderKnown && leaderZone == "":
			outcome = "unknown (the leader's node has no zone)"
		case leaderKnown:
			for _, l := range r.ZoneLoss {
				if l.Domain == leaderZone {
					outcome = l.Outcome
				}
			}
		}
		skipped := 0
		for _, c := range r.Checks {
			if c.Status == topology.Skipped {
				skipped++
			}
		}
		return []string{s.Status(auditVerdict(r)), fmt.Sprint(r.Summary.Errors), fmt.Sprint(r.Summary.Warnings), spanned, outcome},
			[]string{r.Namespace + "/" + r.Name, string(r.Profile), fmt.Sprintf("%d/%d", r.Replicas.Ready, r.Replicas.Desired), fmt.Sprint(r.Summary.Info), fmt.Sprint(skipped), cmp.Or(r.Leader, "-")}
	})
}

// auditVerdict is the audit's one word: PASS, WARN or FAIL.
func auditVerdict(r topology.Report) string {
	return map[string]string{"pass": "PASS", "warnings": "WARN", "errors": "FAIL"}[r.Summary.Verdict]
}
