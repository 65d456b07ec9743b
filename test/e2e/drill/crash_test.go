//go:build crashpoints && linux

package drill

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// The crash-point matrix (go test -tags crashpoints): each drill runs once to record its steps, then
// once per step and signal with karpctl stopped at that step (drill.CrashAtEnv). SIGTERM and SIGINT
// must restore by themselves; after SIGKILL `drill restore` must. Then the cluster must match its
// state before the drill, a second `drill restore` must change nothing, and — after a SIGKILL,
// before the restore — a new drill must be refused with the restore command in its message.
// CRASH_MATRIX=full runs every step; otherwise the first step after the lock and the first after
// the drill's action, the fast subset CI runs.

type crashDrill struct {
	name string
	args func(zone string) []string
}

var crashDrills = []crashDrill{
	{"leader-kill", func(string) []string { return []string{"drill", "leader-kill"} }},
	{"zone-outage", func(zone string) []string { return []string{"drill", "zone-outage", zone} }},
}

var signals = []string{"KILL", "TERM", "INT"}

func TestDrillCrashMatrix(t *testing.T) {
	harness.Need(t, env)
	karpctl, environ := karpctlProcess(t)
	start := time.Now()
	seq := 0
	for _, d := range crashDrills {
		t.Run(d.name, func(t *testing.T) {
			ctx := e2e.Context(t, 40*time.Minute)
			seq++
			steps := recordSteps(ctx, t, karpctl, environ, d, fmt.Sprintf("crash-%d-base", seq))
			if os.Getenv("CRASH_MATRIX") != "full" {
				steps = fastSubset(steps)
			}
			t.Logf("%s steps: %v", d.name, steps)
			for _, step := range steps {
				for _, sig := range signals {
					seq++
					ns := fmt.Sprintf("crash-%d", seq)
					t.Run(step+"/"+sig, func(t *testing.T) {
						restored := crashAt(ctx, t, karpctl, environ, d, ns, step, sig)
						recordCrash(d.name, step, sig, restored, !t.Failed())
					})
				}
			}
		})
	}
	writeCrashTable(t, time.Since(start))
}

// recordSteps runs the drill to its end and returns its steps as KIND#N, in order.
func recordSteps(ctx context.Context, t *testing.T, karpctl string, environ []string, d crashDrill, ns string) []string {
	zone, _ := zoneSetup(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	cmd := exec.CommandContext(ctx, karpctl, append(d.args(zone), "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms",
		"--timeout", "60s", "--report", report, "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = environ
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("%s: %v\n%s", d.name, err, out)
	}
	seen := map[string]int{}
	var steps []string
	for _, e := range readReport(t, report).Timeline {
		seen[e.Kind]++
		steps = append(steps, fmt.Sprintf("%s#%d", e.Kind, seen[e.Kind]))
	}
	return steps
}

// fastSubset keeps the lock (nothing else changed yet) and the first step after the drill's action.
func fastSubset(steps []string) []string {
	out := []string{}
	for _, s := range steps {
		k, _, _ := strings.Cut(s, "#")
		if k == drill.EvLock || (len(out) == 1 && slices.Contains([]string{drill.EvEvicted, drill.EvDeleted, drill.EvCordoned}, k)) {
			out = append(out, s)
		}
	}
	return out
}

// crashAt runs the drill stopped at step by sig and checks the restore; it returns what restored.
func crashAt(ctx context.Context, t *testing.T, karpctl string, environ []string, d crashDrill, ns, step, sig string) string {
	zone, _ := zoneSetup(ctx, t, ns)
	before := clusterState(ctx, t, ns)
	cmd := exec.CommandContext(ctx, karpctl, append(d.args(zone), "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms",
		"--timeout", "60s", "--kubeconfig", env.Kubeconfig)...)
	cmd.Env = append(slices.Clone(environ), drill.CrashAtEnv+"="+step+":"+sig)
	out, _ := cmd.CombinedOutput()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	t.Logf("stopped at %s by SIG%s: exit %d signaled %v\n%s", step, sig, cmd.ProcessState.ExitCode(), ws.Signaled(), out)
	restoredBy := "itself"
	if sig == "KILL" {
		if !ws.Signaled() {
			t.Fatalf("the drill ended before step %s", step)
		}
		if _, err := env.Client.CoordinationV1().Leases(ns).Get(ctx, drill.LockName, metav1.GetOptions{}); err == nil {
			again := e2e.Karpctl(ctx, t, env.Kubeconfig, append(d.args(zone), "--yes", "--karpenter-namespace", ns, "--timeout", "60s")...)
			if again.Code == 0 || !strings.Contains(again.Stdout+again.Stderr, "kubectl karpctl drill restore") {
				t.Errorf("a drill over a killed one's lock: exit %d, no restore command:\n%s%s", again.Code, again.Stdout, again.Stderr)
			}
		}
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns)
		if r.Code != 0 {
			t.Fatalf("drill restore: exit %d: %s", r.Code, r.Stderr)
		}
		restoredBy = "drill restore"
	}
	waitState(ctx, t, ns, before)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns, "-o", "json")
	var again drill.RestoreResult
	r.Decode(t, &again)
	if r.Code != 0 || len(again.Uncordoned) > 0 || again.LockDeleted != "" || len(again.ProbeDeleted) > 0 || len(again.Errors) > 0 {
		t.Errorf("a second drill restore was no no-op: exit %d %+v", r.Code, again)
	}
	return restoredBy
}

// clusterState is what a drill may change, as comparable text: each node's cordon, taints and drill
// marks, the drill lock, probe pods and labelled NodeClaims, the Deployment's replicas and how many
// of its pods are Ready.
func clusterState(ctx context.Context, t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		var taints []string
		for _, tn := range n.Spec.Taints {
			if tn.Key != corev1.TaintNodeUnschedulable {
				taints = append(taints, tn.ToString())
			}
		}
		out["node/"+n.Name] = fmt.Sprintf("unschedulable=%t taints=%v mark=%q/%q", n.Spec.Unschedulable, taints, n.Labels[drill.CordonLabel], n.Annotations[drill.CordonAnnotation])
	}
	_, err = env.Client.CoordinationV1().Leases(ns).Get(ctx, drill.LockName, metav1.GetOptions{})
	out["lock"] = fmt.Sprint(!apierrors.IsNotFound(err))
	probes, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: drill.ProbeLabel})
	out["probe-pods"] = fmt.Sprint(len(probes.Items))
	d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "karpenter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out["deployment"] = fmt.Sprintf("replicas=%d ready=%d", *d.Spec.Replicas, d.Status.ReadyReplicas)
	return out
}

// waitState waits (up to a minute: evicted pods are recreated by their ReplicaSet) for the state
// before the drill, and fails with the difference.
func waitState(ctx context.Context, t *testing.T, ns string, before map[string]string) {
	t.Helper()
	var now map[string]string
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if harness.WaitFor(wctx, func() bool {
		now = clusterState(ctx, t, ns)
		for k, v := range before {
			if now[k] != v {
				return false
			}
		}
		return true
	}) {
		return
	}
	for k, v := range before {
		if now[k] != v {
			t.Errorf("%s: %s before the drill, %s after the restore", k, v, now[k])
		}
	}
}

var (
	crashMu    sync.Mutex
	crashTable []string
)

func recordCrash(d, step, sig, by string, ok bool) {
	crashMu.Lock()
	defer crashMu.Unlock()
	res := "✓ restored by " + by
	if !ok {
		res = "✗ not restored (" + by + ")"
	}
	crashTable = append(crashTable, fmt.Sprintf("| %s | %s | SIG%s | %s |", d, step, sig, res))
}

func writeCrashTable(t *testing.T, took time.Duration) {
	crashMu.Lock()
	defer crashMu.Unlock()
	md := "| drill | step | signal | restored |\n|---|---|---|---|\n" + strings.Join(crashTable, "\n") + "\n"
	md += "\nCompared after each: every node's cordon, taints and drill marks; the drill lock; probe pods; the Karpenter Deployment's replicas and Ready pods (evicted pods recreated by their ReplicaSet).\n"
	md += fmt.Sprintf("\n%d cells in %s, one after another: every cell runs on the same six nodes, whose cordons each compares.\n", len(crashTable), took.Round(time.Second))
	e2e.ReliabilitySection(t, "crash", md)
}
