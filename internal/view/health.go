package view

import (
	"fmt"
	"io"

	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/output"
)

// HealthReport prints one line per check, then the verdict.
func HealthReport(w io.Writer, s output.Styles, r health.Report) error {
	fmt.Fprintf(w, "Karpenter %s/%s, lease %s\n\n", r.Namespace, r.Deployment, r.Lease)
	t := output.Table{Headers: []string{"STATUS", "CHECK", "DETAIL"}}
	for _, c := range r.Checks {
		t.Rows = append(t.Rows, []string{s.Status(string(c.Status)), c.Name, c.Message})
	}
	if err := t.Render(w, s); err != nil {
		return err
	}
	n := map[health.Status]int{}
	for _, c := range r.Checks {
		n[c.Status]++
	}
	_, err := fmt.Fprintf(w, "\nVerdict: %s (%d OK, %d WARN, %d FAIL, %d SKIPPED)\n", s.Status(string(r.Verdict)), n[health.OK], n[health.Warn], n[health.Fail], n[health.Skipped])
	return err
}
