//go:build crashpoints && linux

package realkarpenter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// The probe's crash points (go test -tags crashpoints, make reliability): `drill leader-kill --probe`
// against the real Karpenter v1.15.0 runs once to record its probe steps, then once per probe step and
// signal with karpctl stopped at that step (drill.CrashAtEnv). SIGTERM and SIGINT must clean up by
// themselves; after SIGKILL `drill restore` must. Then no probe pod, no NodeClaim or node Karpenter
// launched for it and no drill lock may remain, no node may carry a drill's mark, Karpenter must be
// back to two replicas with a leader, and a second `drill restore` must change nothing.
func TestProbeCrashMatrix(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 60*time.Minute)
	start := time.Now()
	steady(ctx, t)
	steps := probeSteps(ctx, t)
	if os.Getenv("CRASH_MATRIX") != "full" {
		steps = steps[:min(2, len(steps))]
	}
	t.Logf("probe steps: %v", steps)
	var rows []string
	for _, step := range steps {
		for _, sig := range []string{"KILL", "TERM", "INT"} {
			t.Run(step+"/"+sig, func(t *testing.T) {
				by := probeCrashAt(ctx, t, step, sig)
				mark := "✓"
				if t.Failed() {
					mark = "✗"
				}
				rows = append(rows, fmt.Sprintf("| leader-kill --probe | `%s` | SIG%s | %s %s |", step, sig, mark, by))
			})
		}
	}
	md := "| drill | step | signal | cleaned up |\n|---|---|---|---|\n" + strings.Join(rows, "\n") +
		"\n\nChecked after each: no probe pod, no NodeClaim or node Karpenter launched, no drill lock, no node marked by a drill, " +
		"two Karpenter replicas with a leader, and a second `drill restore` that changes nothing.\n\n" +
		fmt.Sprintf("%d cells in %s against the real Karpenter v1.15.0, one after another.\n", len(rows), time.Since(start).Round(time.Second))
	e2e.ReliabilitySection(t, "probe-crash", md)
}

// probeSteps runs leader-kill --probe to its end and returns the probe's steps as KIND#N, in order.
func probeSteps(ctx context.Context, t *testing.T) []string {
	d, r := runDrill(ctx, t, "leader-kill", "--probe", "--yes")
	if r.Code != 0 || d.Probe == nil {
		t.Fatalf("leader-kill --probe: exit %d: %s\n%s", r.Code, d.Reason, r.Stdout)
	}
	leftBehind(ctx, t, d.Probe.NodeClaim)
	steady(ctx, t)
	probeKinds := map[string]bool{drill.EvProbeCreated: true, drill.EvProbeUnschedulable: true, drill.EvProbeNodeClaim: true,
		drill.EvProbeNodeReady: true, drill.EvProbeScheduled: true, drill.EvProbeAttributed: true, drill.EvProbeRunning: true,
		drill.EvProbeNominated: true, drill.EvProbeDeleted: true}
	seen := map[string]int{}
	var steps []string
	for _, e := range d.Timeline {
		if !probeKinds[e.Kind] {
			continue
		}
		seen[e.Kind]++
		steps = append(steps, fmt.Sprintf("%s#%d", e.Kind, seen[e.Kind]))
	}
	return steps
}

// reached reports whether the drill's report records step (KIND#N: at least N events of KIND).
func reached(t *testing.T, report, step string) bool {
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no report: %v", err)
	}
	var d drill.Report
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	kind, n, _ := strings.Cut(step, "#")
	want, _ := strconv.Atoi(n)
	seen := 0
	for _, e := range d.Timeline {
		if e.Kind == kind {
			seen++
		}
	}
	return seen >= max(want, 1)
}

// probeCrashAt runs leader-kill --probe stopped at step by sig and checks that nothing is left; it
// returns what cleaned up.
func probeCrashAt(ctx context.Context, t *testing.T, step, sig string) string {
	steady(ctx, t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.CommandContext(ctx, self, "drill", "leader-kill", "--probe", "--yes", "--report", report, "--kubeconfig", sb.Kubeconfig())
	cmd.Env = append(os.Environ(), karpctlEnv+"=1", drill.CrashAtEnv+"="+step+":"+sig)
	out, _ := cmd.CombinedOutput()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	t.Logf("stopped at %s by SIG%s: exit %d, signaled %v\n%s", step, sig, cmd.ProcessState.ExitCode(), ws.Signaled(), out)
	by := "itself"
	switch code := cmd.ProcessState.ExitCode(); {
	case sig == "KILL" && ws.Signaled():
		r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "drill", "restore")
		if r.Code != 0 {
			t.Fatalf("drill restore: exit %d: %s", r.Code, r.Stderr)
		}
		by = "drill restore"
	case !reached(t, report, step):
		// Karpenter's answers vary from run to run: this run recorded no such step (a Nominated event,
		// say), or only after the drill had stopped listening to the probe.
		by = "not reached in this run; cleaned up itself"
	case sig == "KILL":
		t.Errorf("the drill recorded %s but was not killed there (exit %d)", step, code)
	case code != 0 && code != 3:
		// Stopped mid-drill: interrupted (3); stopped while cleaning up, the verdict stands (0 or 3).
		t.Errorf("SIG%s at %s: exit %d, want 3 (interrupted) or the drill's verdict", sig, step, code)
	}
	var claims []string
	if ncs, err := sb.Dynamic.Resource(sandbox.NodeClaimResource).List(ctx, metav1.ListOptions{}); err == nil {
		for _, nc := range ncs.Items {
			claims = append(claims, nc.GetName())
		}
	}
	leftBehind(ctx, t, claims...)
	marked, err := sb.Env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: drill.CordonLabel})
	if err != nil || len(marked.Items) > 0 {
		t.Errorf("nodes marked by a drill after the cleanup: %v %v", marked, err)
	}
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "drill", "restore", "-o", "json")
	var again drill.RestoreResult
	r.Decode(t, &again)
	if r.Code != 0 || len(again.Uncordoned) > 0 || again.LockDeleted != "" || len(again.ProbeDeleted) > 0 || len(again.Errors) > 0 {
		t.Errorf("a second drill restore was no no-op: exit %d %+v", r.Code, again)
	}
	steady(ctx, t)
	return by
}
