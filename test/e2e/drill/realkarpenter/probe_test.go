package realkarpenter

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

// steady waits for two replicas with processes and a leader, as every test starts from.
func steady(ctx context.Context, t *testing.T) *sandbox.Leader {
	t.Helper()
	if _, err := sb.WaitForReplicas(ctx, 2); err != nil {
		t.Fatal(err)
	}
	ld, err := sb.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ld
}

// leftBehind waits until no probe pod, no NodeClaim in names and no drill lock is left, and fails
// the test naming what stayed.
func leftBehind(ctx context.Context, t *testing.T, claims ...string) {
	t.Helper()
	var left []string
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if !harness.WaitFor(wctx, func() bool {
		left = nil
		pods, err := sb.Env.Client.CoreV1().Pods(sb.Namespace).List(wctx, metav1.ListOptions{LabelSelector: drill.ProbeLabel})
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			left = append(left, "pod "+p.Name)
		}
		for _, nc := range claims {
			if _, err := sb.Dynamic.Resource(sandbox.NodeClaimResource).Get(wctx, nc, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, "nodeclaim "+nc)
			}
		}
		if _, err := sb.Env.Client.CoordinationV1().Leases(sb.Namespace).Get(wctx, drill.LockName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			left = append(left, "lock "+drill.LockName)
		}
		return len(left) == 0
	}) {
		t.Fatalf("left behind: %v", left)
	}
}

// Acceptance: `drill leader-kill --probe --yes` against the real Karpenter v1.15.0 is a PASS whose
// probe NodeClaim the new leader created — its own log says "created nodeclaim" with that name — with
// "provisioning resumed after X s" reported beside the failover, and nothing left behind.
func TestRealKarpenterLeaderKillProbe(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	steady(ctx, t)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "drill", "leader-kill", "--probe", "--yes", "--report", report)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("exit %d, no report: %v\n%s", r.Code, err, r.Stderr)
	}
	var d drill.Report
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	p := d.Probe
	if r.Code != 0 || d.Result != drill.Pass || p == nil || p.Result != drill.Pass {
		t.Fatalf("exit %d: %s %s; probe %+v", r.Code, d.Result, d.Reason, p)
	}
	if p.NodeClaim == "" || p.CreatedBy != d.NewLeader || p.NodeClaimSeconds <= d.FailoverSeconds || p.RunningSeconds < p.NodeClaimSeconds {
		t.Fatalf("probe %+v (failover %.3fs, new leader %s)", p, d.FailoverSeconds, d.NewLeader)
	}
	if !strings.Contains(r.Stdout, "Resumed after") || !strings.Contains(r.Stdout, "provisioning resumed after") {
		t.Fatalf("the figure is not reported:\n%s", r.Stdout)
	}
	// Karpenter's own word: the new leader's process logged the creation of exactly this NodeClaim.
	pod, _ := lease.ParseIdentity(d.NewLeader)
	logText, err := os.ReadFile(filepath.Join(sb.Env.Dir, "karpenter-"+pod+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), `"created nodeclaim"`) || !strings.Contains(string(logText), p.NodeClaim) {
		t.Fatalf("the new leader %s did not log creating %s", pod, p.NodeClaim)
	}
	leftBehind(ctx, t, p.NodeClaim)
	t.Logf("real Karpenter v1.15.0: failover %.3fs, provisioning resumed after %.3fs (%.3fs after the new leader acquired; bound %.0fs), probe Running after %.3fs on %s (%s)",
		d.FailoverSeconds, p.NodeClaimSeconds, p.ResumeSeconds, p.ResumeBoundSeconds, p.RunningSeconds, p.Node, p.InstanceType)
}

// Acceptance: SIGKILL of karpctl once the new leader has created the probe's NodeClaim, then `drill
// restore`: the probe pod, its NodeClaim and the drill lock are all gone.
func TestRealKarpenterProbeSIGKILLRestore(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	steady(ctx, t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, "drill", "leader-kill", "--probe", "--yes", "--kubeconfig", sb.Kubeconfig())
	cmd.Env = append(os.Environ(), karpctlEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	cmd.Stderr = &all
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	claim := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if i := strings.Index(sc.Text(), drill.EvProbeNodeClaim); i >= 0 {
			claim = strings.Fields(sc.Text()[i+len(drill.EvProbeNodeClaim):])[0]
			break
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if claim == "" {
		t.Fatalf("the drill never saw a NodeClaim for its probe:\n%s", all.String())
	}
	t.Logf("killed karpctl after it saw NodeClaim %s:\n%s", claim, all.String())
	pods, err := sb.Env.Client.CoreV1().Pods(sb.Namespace).List(ctx, metav1.ListOptions{LabelSelector: drill.ProbeLabel})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("after SIGKILL the probe pod should remain: %v %v", pods, err)
	}
	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "drill", "restore")
	if r.Code != 0 || !strings.Contains(r.Stdout, "deleted probe pod "+sb.Namespace+"/"+pods.Items[0].Name) ||
		!strings.Contains(r.Stdout, "deleted probe nodeclaim "+claim) || !strings.Contains(r.Stdout, "deleted drill lock") {
		t.Fatalf("restore: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	leftBehind(ctx, t, claim)
	steady(ctx, t) // the Deployment replaced the evicted leader meanwhile
}
