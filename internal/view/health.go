package view

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/output"
)

// HealthReport prints one line per check, then the verdict; wide adds each replica's metrics.
func HealthReport(w io.Writer, s output.Styles, r health.Report, wide bool) error {
	fmt.Fprintf(w, "Karpenter %s/%s, lease %s\n\n", r.Namespace, r.Deployment, r.Lease)
	t := output.Table{Headers: []string{"STATUS", "CHECK", "DETAIL"}}
	for _, c := range r.Checks {
		t.Rows = append(t.Rows, []string{s.Status(string(c.Status)), c.Name, c.Message})
	}
	if err := t.Render(w, s); err != nil {
		return err
	}
	if wide {
		if err := replicaMetrics(w, s, r); err != nil {
			return err
		}
	}
	n := map[health.Status]int{}
	for _, c := range r.Checks {
		n[c.Status]++
	}
	_, err := fmt.Fprintf(w, "\nVerdict: %s (%d OK, %d WARN, %d FAIL, %d SKIPPED)\n", s.Status(string(r.Verdict)), n[health.OK], n[health.Warn], n[health.Fail], n[health.Skipped])
	return err
}

// replicaMetrics is the wide view: every replica's own API-server traffic, as its metrics report it.
func replicaMetrics(w io.Writer, s output.Styles, r health.Report) error {
	fmt.Fprintln(w)
	if len(r.Metrics) == 0 {
		_, err := fmt.Fprintln(w, "Replica metrics: none could be read (see the SKIPPED metrics checks)")
		return err
	}
	t := output.Table{Headers: []string{"REPLICA", "LEADER-STATUS", "REQUESTS", "BY CODE", "NON-2XX", "ERRORS", "429", "LATENCY MEAN", "P99 ≤"}}
	for _, pod := range slices.Sorted(maps.Keys(r.Metrics)) {
		m := r.Metrics[pod]
		leader := "-"
		if m.LeaderStatus != nil {
			leader = fmt.Sprint(*m.LeaderStatus)
		}
		// Counters are whole numbers: %.0f, never %g, which prints a million requests as 1e+06.
		t.Rows = append(t.Rows, []string{pod, leader, fmt.Sprintf("%.0f", m.Total), health.CodeSummary(m.Requests),
			fmt.Sprintf("%.1f%%", 100*m.Non2xxShare()), fmt.Sprintf("%.0f", m.Errors), fmt.Sprintf("%.0f", m.Throttled),
			fmt.Sprintf("%.1fms", 1000*m.LatencyMeanSec), fmt.Sprintf("%.1fms", 1000*m.LatencyP99Sec)})
	}
	return t.Render(w, s)
}
