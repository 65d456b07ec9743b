package view

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/output"
)

// DrillPreflight prints each gate, then the plan.
func DrillPreflight(w io.Writer, s output.Styles, p *drill.Preflight) {
	fmt.Fprintf(w, "Drill %s (%s)\n\nPreflight:\n", p.Kind(), p.ID)
	for _, g := range p.Gates {
		word := "OK"
		switch {
		case g.Forced:
			word = "FORCED"
		case !g.Passed:
			word = "FAIL"
		}
		fmt.Fprintf(w, "  %-6s %-17s %s\n", s.Status(word), g.Name, g.Message)
	}
	plan := p.Plan
	if len(plan.Steps) == 0 {
		return
	}
	fmt.Fprintf(w, "\nPlan:\n")
	for i, st := range plan.Steps {
		fmt.Fprintf(w, "  %d. %s\n", i+1, st)
	}
	for _, sk := range plan.Skipped {
		fmt.Fprintf(w, "  - not touched: %s\n", sk)
	}
	if plan.Expect != "" {
		fmt.Fprintf(w, "  Expect: %s\n", plan.Expect)
	}
}

// DrillEvent prints one live timeline line: offset from the action, kind, detail.
func DrillEvent(w io.Writer, s output.Styles, e drill.Event) {
	at := "        "
	if e.SinceSeconds != 0 || e.Kind == drill.EvEvicted || e.Kind == drill.EvDeleted {
		at = fmt.Sprintf("%+7.3fs", e.SinceSeconds)
	}
	fmt.Fprintf(w, "  %s  %s  %-26s %s\n", e.Time.Format("15:04:05.000"), at, s.Key.Render(e.Kind), e.Detail)
}

// DrillReport prints the verdict with the numbers and the explanation.
func DrillReport(w io.Writer, s output.Styles, r *drill.Report) error {
	kv := [][2]string{{"Result", s.Status(string(r.Result)) + "  " + r.Reason}}
	if r.OldLeader != "" {
		kv = append(kv, [2]string{"Old leader", r.OldLeader})
	}
	if r.NewLeader != "" {
		kv = append(kv, [2]string{"New leader", r.NewLeader})
	}
	if r.Path != "" {
		kv = append(kv, [2]string{"Path", string(r.Path)})
	}
	if r.FailoverSeconds > 0 {
		kv = append(kv, [2]string{"Failover", fmt.Sprintf("%.3fs (new acquireTime − action time; bound %.3fs: %s)", r.FailoverSeconds, r.BoundSeconds, r.Bound)})
		kv = append(kv, [2]string{"Leader gap", fmt.Sprintf("%.3fs (new acquireTime − old holder's last renewTime)", r.LeaderGapSeconds)})
	}
	if pr := r.Probe; pr != nil {
		kv = append(kv, probeRows(s, pr)...)
	}
	if r.ReplacementReadySeconds > 0 {
		kv = append(kv, [2]string{"Replacement", fmt.Sprintf("Ready %.1fs after the action", r.ReplacementReadySeconds)})
	}
	if r.Unschedulable != "" {
		kv = append(kv, [2]string{"Unschedulable", r.Unschedulable})
	}
	if len(r.Restored) > 0 {
		kv = append(kv, [2]string{"Restored", strings.Join(r.Restored, ", ")})
	}
	kv = append(kv, [2]string{"Lease timings", fmt.Sprintf("duration %.0fs (from the Lease), retry period %s (--retry-period)", r.LeaseDurationSeconds, time.Duration(r.RetryPeriodSeconds*float64(time.Second)))})
	fmt.Fprintln(w)
	if err := output.KV(w, s, kv); err != nil {
		return err
	}
	for _, e := range r.Explanation {
		fmt.Fprintf(w, "\n%s\n", e)
	}
	return nil
}

// probeRows are the report lines of the provisioning probe.
func probeRows(s output.Styles, pr *drill.ProbeReport) [][2]string {
	rows := [][2]string{{"Provisioning", s.Status(string(pr.Result)) + "  " + pr.Reason}}
	if pr.NodeClaimSeconds > 0 {
		rows = append(rows, [2]string{"Resumed after", fmt.Sprintf("%.3fs (probe's NodeClaim %s seen − action; %.3fs after the lease changed hands, bound %.3fs: %s)",
			pr.NodeClaimSeconds, pr.NodeClaim, pr.ResumeSeconds, pr.ResumeBoundSeconds, pr.ResumeBound)})
	}
	var steps []string
	for _, st := range []struct {
		name string
		v    float64
	}{{"created", pr.CreatedSeconds}, {"Unschedulable", pr.UnschedulableSeconds}, {"NodeClaim", pr.NodeClaimSeconds}, {"node Ready", pr.NodeReadySeconds}, {"Running", pr.RunningSeconds}} {
		if st.v != 0 {
			steps = append(steps, fmt.Sprintf("%s +%.3fs", st.name, st.v))
		}
	}
	rows = append(rows, [2]string{"Probe", fmt.Sprintf("%s, NodePool %s: %s", pr.Pod, pr.NodePool, cmp.Or(strings.Join(steps, " → "), "-"))})
	if pr.CreatedBy != "" {
		rows = append(rows, [2]string{"Provisioned by", fmt.Sprintf("%s (NodeClaim %s, %s in %s on node %s)", pr.CreatedBy, pr.NodeClaim, cmp.Or(pr.InstanceType, "?"), cmp.Or(pr.Zone, "?"), cmp.Or(pr.Node, "?"))})
	}
	if len(pr.CleanedUp) > 0 {
		rows = append(rows, [2]string{"Cleaned up", strings.Join(pr.CleanedUp, ", ")})
	}
	return rows
}

// DrillHistory prints the trends, then every drill.
func DrillHistory(w io.Writer, s output.Styles, h drill.History) error {
	if len(h.Drills) == 0 {
		_, err := fmt.Fprintf(w, "No drills recorded in %s\n", h.File)
		return err
	}
	fmt.Fprintf(w, "Drills recorded in %s\n\n", h.File)
	t := output.Table{Headers: []string{"CONTEXT", "CLUSTER", "KIND", "COUNT", "PASS", "FAIL", "FAILOVER P50", "FAILOVER MAX", "RESUMED P50", "RESUMED MAX", "LAST"}}
	for _, tr := range h.Trends {
		t.Rows = append(t.Rows, []string{tr.Context, tr.Cluster, string(tr.Kind), fmt.Sprint(tr.Count), fmt.Sprint(tr.Passed), fmt.Sprint(tr.Failed), secsOrDash(tr.P50Seconds), secsOrDash(tr.MaxSeconds),
			secsOrDash(tr.ProvisioningP50Seconds), secsOrDash(tr.ProvisioningMaxSeconds), tr.Last})
	}
	if err := t.Render(w, s); err != nil {
		return err
	}
	fmt.Fprintln(w)
	d := output.Table{Headers: []string{"STARTED", "ID", "CONTEXT", "KIND", "MODE", "RESULT", "PATH", "FAILOVER", "RESUMED", "REASON"}}
	for _, e := range h.Drills {
		kind := string(e.Kind)
		if e.Zone != "" {
			kind += " " + e.Zone
		}
		d.Rows = append(d.Rows, []string{e.Started.Format(time.RFC3339), e.ID, e.Context, kind, string(e.Mode), s.Status(string(e.Result)), cmp.Or(string(e.Path), "-"), secsOrDash(e.FailoverSeconds), secsOrDash(e.ProvisioningSeconds), e.Reason})
	}
	return d.Render(w, s)
}

// DrillRestore prints what restore undid.
func DrillRestore(w io.Writer, r drill.RestoreResult) error {
	if len(r.Uncordoned) == 0 && r.LockDeleted == "" && len(r.ProbeDeleted) == 0 {
		_, err := fmt.Fprintln(w, "Nothing to restore: no node carries the karpctl.io/drill-cordoned label, no drill probe pod and no drill lock is left")
		return err
	}
	for _, d := range r.ProbeDeleted {
		fmt.Fprintf(w, "deleted probe %s\n", d)
	}
	for _, n := range r.Uncordoned {
		fmt.Fprintf(w, "uncordoned %s\n", n)
	}
	if r.LockDeleted != "" {
		fmt.Fprintf(w, "deleted drill lock %s\n", r.LockDeleted)
	}
	return nil
}

func secsOrDash(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fs", v)
}
