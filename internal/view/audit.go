package view

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/karpctl/karpctl/internal/cli"

	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/topology"
)

// AuditReport prints the topology audit: placements, findings by severity, the zone- and host-loss
// what-ifs, skipped checks, and one summary line naming the exit code under the report's FailOn.
func AuditReport(w io.Writer, s output.Styles, r topology.Report, wide bool) error {
	mode := "live cluster"
	if r.Mode == "offline" {
		mode = "manifests only"
	}
	fmt.Fprintf(w, "%s %s/%s  profile %s  (%s)\n", s.Bold.Render("Karpenter"), r.Namespace, r.Name, r.Profile, mode)
	fmt.Fprintf(w, "Replicas: %d desired, %d ready, %d pending", r.Replicas.Desired, r.Replicas.Ready, r.Replicas.Pending)
	if r.Leader != "" {
		fmt.Fprintf(w, "; leader %s", r.Leader)
	}
	if len(r.EligibleZones) > 0 {
		fmt.Fprintf(w, "; zones with eligible nodes: %s", strings.Join(r.EligibleZones, ", "))
	}
	fmt.Fprintln(w)

	if len(r.Placements) > 0 {
		fmt.Fprintln(w)
		t := output.Table{Headers: []string{"POD", "ROLE", "READY", "NODE", "ZONE", "RACK", "KARPENTER-MANAGED"}}
		withSystem := false
		for _, p := range r.Placements {
			if p.SystemNode != nil {
				withSystem = true
			}
		}
		if withSystem {
			t.Headers = append(t.Headers, "SYSTEM-NODE")
		}
		if wide {
			t.Headers = append(t.Headers, "PHASE", "PENDING-REASON")
		}
		for _, p := range r.Placements {
			managed := "no"
			if p.KarpenterManaged {
				managed = s.Fail.Render("YES")
			}
			role := p.Role
			if role == "leader" {
				role = s.OK.Render(role)
			}
			row := []string{p.Pod, role, fmt.Sprint(p.Ready), orNone(p.Node), orNone(p.Zone), cmp.Or(p.Rack, "-"), managed}
			if withSystem {
				sys := "-"
				if p.SystemNode != nil {
					sys = yesNo(*p.SystemNode)
				}
				row = append(row, sys)
			}
			if wide {
				row = append(row, p.Phase, cmp.Or(p.PendingReason, "-"))
			}
			t.Rows = append(t.Rows, row)
		}
		if err := t.Render(w, s); err != nil {
			return err
		}
	}

	for _, sev := range []topology.Severity{topology.Error, topology.Warning, topology.Info} {
		var fs []topology.Finding
		for _, f := range r.Findings {
			if f.Severity == sev {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			continue
		}
		title := map[topology.Severity]string{topology.Error: "ERRORS", topology.Warning: "WARNINGS", topology.Info: "INFO"}[sev]
		fmt.Fprintf(w, "\n%s (%d)\n", severityStyle(s, sev, title), len(fs))
		for _, f := range fs {
			fmt.Fprintf(w, "  %s %s\n", s.Dim.Render("["+f.ID+"]"), f.Message)
			fmt.Fprintf(w, "      %s %s\n", s.Key.Render("fix:"), f.Remediation)
			if wide && f.Object != "" {
				fmt.Fprintf(w, "      %s %s\n", s.Key.Render("object:"), f.Object)
			}
		}
	}

	if len(r.ZoneLoss) > 0 {
		fmt.Fprintln(w)
		if err := lossTable(w, s, "ZONE LOST", r.ZoneLoss); err != nil {
			return err
		}
	}
	if len(r.HostLoss) > 0 {
		fmt.Fprintln(w)
		if err := lossTable(w, s, "NODE LOST", r.HostLoss); err != nil {
			return err
		}
	}

	var skipped []string
	for _, c := range r.Checks {
		if c.Status == topology.Skipped {
			skipped = append(skipped, fmt.Sprintf("  %s: %s", c.Check, c.Reason))
		}
	}
	if len(skipped) > 0 {
		fmt.Fprintf(w, "\n%s\n%s\n", s.Warn.Render("Not checked (never counted as passed):"), strings.Join(skipped, "\n"))
	}

	exitCode, failOn := cli.ExitOK, cmp.Or(string(r.FailOn), "never")
	if r.Failing() > 0 {
		exitCode = cli.ExitUnhealthy
	}
	_, err := fmt.Fprintf(w, "\n%s  %d error(s), %d warning(s), %d info; %d check(s) skipped; exit %d with --fail-on %s\n",
		s.Status(auditVerdict(r)), r.Summary.Errors, r.Summary.Warnings, r.Summary.Info, len(skipped), exitCode, failOn)
	return err
}

func lossTable(w io.Writer, s output.Styles, header string, rows []topology.LossScenario) error {
	t := output.Table{Headers: []string{header, "READY REPLICAS THERE", "READY LEFT", "LEADER LOST", "OUTCOME"}}
	for _, l := range rows {
		leader := "unknown"
		if l.LeaderLost != nil {
			leader = yesNo(*l.LeaderLost)
		}
		outcome := l.Outcome
		switch outcome {
		case "outage":
			outcome = s.Fail.Render(outcome)
		case "failover":
			outcome = s.Warn.Render(outcome + " (a standby takes over after the lease expires)")
		}
		t.Rows = append(t.Rows, []string{l.Domain, fmt.Sprint(l.Replicas), fmt.Sprint(l.Remaining), leader, outcome})
	}
	return t.Render(w, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func severityStyle(s output.Styles, sev topology.Severity, text string) string {
	switch sev {
	case topology.Error:
		return s.Fail.Render(text)
	case topology.Warning:
		return s.Warn.Render(text)
	}
	return s.Info.Render(text)
}
