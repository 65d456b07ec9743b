// Package view renders each command's plain result structs for people, with the shared primitives
// of package output. Machine formats (-o json|yaml) serialise the structs directly.
package view

import (
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/output"
)

// LeaseStatus prints the lease summary, then the candidates table (wide adds creation times).
func LeaseStatus(w io.Writer, s output.Styles, st lease.Status, wide bool) error {
	kv := [][2]string{
		{"Lease", st.Namespace + "/" + st.Name},
		{"Verdict", s.Status(string(st.Verdict)) + "  " + st.Reason},
	}
	if st.Verdict != lease.Disabled && st.Verdict != lease.Missing {
		kv = append(kv, [2]string{"Holder", orNone(st.HolderIdentity)})
		if h := st.Holder; h != nil {
			where := "pod " + orNone(h.Pod)
			if h.HostNetwork {
				where += fmt.Sprintf(" (hostNetwork: the identity carries node hostname %s, not the pod name)", h.Hostname)
			}
			if h.Pod == "" {
				where = fmt.Sprintf("no Karpenter pod is named %q", h.Hostname)
			}
			kv = append(kv, [2]string{"Leader", fmt.Sprintf("%s on node %s, zone %s", where, orNone(h.Node), orNone(h.Zone))})
		}
		kv = append(kv,
			[2]string{"Acquired", timeAndAge(st.AcquireTime, st.ObservedAt)},
			[2]string{"Renewed", timeAndAge(st.RenewTime, st.ObservedAt)},
			[2]string{"Duration", fmt.Sprintf("%s (stale after %s without renewal)", st.LeaseDuration, lease.StaleAfter(st.LeaseDuration.Duration()).Round(100*time.Millisecond))},
			[2]string{"Transitions", fmt.Sprint(st.Transitions)},
		)
	}
	if err := output.KV(w, s, kv); err != nil {
		return err
	}
	if len(st.Candidates) == 0 {
		_, err := fmt.Fprintln(w, "\nNo Karpenter pods found.")
		return err
	}
	fmt.Fprintln(w)
	t := output.Table{Headers: []string{"POD", "ROLE", "PHASE", "READY", "RESTARTS", "NODE", "ZONE", "AGE"}}
	if wide {
		t.Headers = append(t.Headers, "CREATED")
	}
	followers := 0
	for _, c := range st.Candidates {
		role := c.Role
		if role == "leader" {
			role = s.OK.Render(role)
		} else {
			followers++
		}
		phase := c.Phase
		if c.Deleting {
			phase = "Terminating"
		}
		row := []string{c.Pod, role, phase, fmt.Sprint(c.Ready), fmt.Sprint(c.Restarts), orNone(c.Node), orNone(c.Zone), duration.HumanDuration(st.ObservedAt.Sub(c.Created))}
		if wide {
			row = append(row, c.Created.UTC().Format(time.RFC3339))
		}
		t.Rows = append(t.Rows, row)
	}
	if err := t.Render(w, s); err != nil {
		return err
	}
	if followers > 0 {
		fmt.Fprintln(w)
		_, err := fmt.Fprintln(w, s.Dim.Render("Followers log \"Attempting to acquire leader lease\" every retry period (2 s by default): that is normal standby, not an error."))
		return err
	}
	return nil
}

// LeaseEvent prints one --watch line.
func LeaseEvent(w io.Writer, s output.Styles, e lease.Event, verbose bool) {
	at := e.Time.UTC().Format("15:04:05.000")
	switch e.Kind {
	case lease.EventObserved:
		if e.To == "" {
			fmt.Fprintf(w, "%s  watching: no holder (transitions %d)\n", at, e.Transitions)
		} else {
			fmt.Fprintf(w, "%s  watching: held by %s (transitions %d)\n", at, e.To, e.Transitions)
		}
	case lease.EventAcquired:
		if e.From == "" {
			fmt.Fprintf(w, "%s  %s %s acquired the lease (transitions %d)\n", at, s.OK.Render("ACQUIRED"), e.To, e.Transitions)
		} else {
			fmt.Fprintf(w, "%s  %s %s -> %s, %s without a leader (transitions %d)%s\n", at, s.Warn.Render("HOLDER CHANGED"), e.From, e.To, e.Gap.Duration().Round(time.Millisecond), e.Transitions, during(e))
		}
	case lease.EventReleased:
		fmt.Fprintf(w, "%s  %s %s released the lease%s\n", at, s.Warn.Render("RELEASED"), e.From, during(e))
	case lease.EventExpired:
		if e.DuringSilence {
			fmt.Fprintf(w, "%s  %s %s's lease expired while the API server was silent (by its timestamps: not renewed in time)\n", at, s.Fail.Render("EXPIRED"), e.From)
		} else {
			fmt.Fprintf(w, "%s  %s %s stopped renewing; the lease expired\n", at, s.Fail.Render("EXPIRED"), e.From)
		}
	case lease.EventSilent:
		fmt.Fprintf(w, "%s  %s for %ds (watch stalled; cannot tell whether the leader renews)\n", at, s.Warn.Render("API SERVER SILENT"), int(e.Silence.Duration().Seconds()))
	case lease.EventResumed:
		fmt.Fprintf(w, "%s  %s after %s without news; %s\n", at, s.OK.Render("API SERVER ANSWERS"), e.Silence.Duration().Round(100*time.Millisecond), reconciled(e))
	case lease.EventMissing:
		fmt.Fprintf(w, "%s  watching: the lease does not exist (yet); its creation will show here\n", at)
	case lease.EventDeleted:
		fmt.Fprintf(w, "%s  %s the lease was deleted\n", at, s.Fail.Render("DELETED"))
	case lease.EventRenewed:
		if verbose {
			fmt.Fprintf(w, "%s  renewed by %s after %s\n", at, e.To, e.Interval.Round(time.Millisecond))
		}
	}
}

// during marks an event that happened, by the lease's timestamps, while the API server was silent.
func during(e lease.Event) string {
	if e.DuringSilence {
		return " (while the API server was silent)"
	}
	return ""
}

// reconciled says, from the lease read when the API server answered again, what happened meanwhile.
func reconciled(e lease.Event) string {
	switch {
	case e.RenewedDuringSilence == nil && e.To == "":
		return "the lease has no holder; reconciling from the lease's timestamps"
	case e.RenewedDuringSilence == nil:
		return fmt.Sprintf("held by %s; reconciling from the lease's timestamps", e.To)
	case *e.RenewedDuringSilence:
		return fmt.Sprintf("the lease was renewed meanwhile (renewTime %s, holder %s)", e.LastRenewTime.UTC().Format("15:04:05.000"), orNone(e.To))
	}
	return fmt.Sprintf("the lease was not renewed meanwhile (last renewTime %s, before the silence)", e.LastRenewTime.UTC().Format("15:04:05.000"))
}

// LeaseSummary prints the --watch summary.
func LeaseSummary(w io.Writer, s output.Styles, sum lease.Summary) error {
	fmt.Fprintln(w)
	return output.KV(w, s, [][2]string{
		{"Watched", sum.Until.Sub(sum.Since).Round(time.Second).String()},
		{"Holder changes", fmt.Sprint(sum.HolderChanges)},
		{"Releases", fmt.Sprint(sum.Releases)},
		{"Expiries", fmt.Sprint(sum.Expiries)},
		{"Longest gap", sum.LongestGap.Duration().Round(time.Millisecond).String()},
		{"Renewals", renewals(sum)},
		{"API silences", silences(sum)},
	})
}

func renewals(sum lease.Summary) string {
	if sum.Intervals == 0 {
		return fmt.Sprintf("%d (no full renewal interval observed)", sum.Renewals)
	}
	return fmt.Sprintf("%d (interval p50 %s, p99 %s, max %s over %d intervals)", sum.Renewals,
		sum.RenewP50.Duration().Round(time.Millisecond), sum.RenewP99.Duration().Round(time.Millisecond), sum.RenewMax.Duration().Round(time.Millisecond), sum.Intervals)
}

func silences(sum lease.Summary) string {
	if sum.Silences == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (longest %s)", sum.Silences, sum.LongestSilence.Duration().Round(100*time.Millisecond))
}

func timeAndAge(t *time.Time, now time.Time) string {
	if t == nil {
		return "<none>"
	}
	return fmt.Sprintf("%s (%s ago)", t.UTC().Format(time.RFC3339Nano), now.Sub(*t).Round(100*time.Millisecond))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
