package realkarpenter

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// leftBehind waits until no probe pod, no NodeClaim in names, no Karpenter node and no drill lock is
// left, and fails the test naming what stayed.
func leftBehind(ctx context.Context, t *testing.T, claims ...string) {
	t.Helper()
	var left []string
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if !harness.WaitFor(wctx, func() bool {
		left = nil
		pods, err := sb.Env.Client.CoreV1().Pods(sb.Namespace).List(wctx, metav1.ListOptions{LabelSelector: drill.ProbeLabel})
		if err != nil {
			left = append(left, "(could not list pods: "+err.Error()+")")
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
		// No node Karpenter launched: the probe's is the only one in this package's sandbox.
		nodes, err := sb.Env.Client.CoreV1().Nodes().List(wctx, metav1.ListOptions{LabelSelector: "karpenter.sh/nodepool"})
		if err != nil {
			left = append(left, "(could not list nodes: "+err.Error()+")")
			return false
		}
		for _, n := range nodes.Items {
			left = append(left, "node "+n.Name)
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
	// The dry run shows the probe in the plan and creates nothing.
	dry := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "drill", "leader-kill", "--probe", "--dry-run", "-o", "json")
	var plan drill.Report
	dry.Decode(t, &plan)
	if dry.Code != 0 || plan.Plan.Probe == nil || plan.Plan.Probe.NodePool != sb.NodePool || plan.Plan.Probe.InstanceType != "c-1x-amd64-linux" {
		t.Fatalf("dry run: exit %d, probe plan %+v", dry.Code, plan.Plan.Probe)
	}
	for _, q := range dry.Requests {
		if !strings.HasPrefix(q, "GET ") && !strings.Contains(q, "selfsubjectaccessreviews") {
			t.Fatalf("the dry run sent %s", q)
		}
	}
	leftBehind(ctx, t)
	d, r := runDrill(ctx, t, "leader-kill", "--probe", "--yes")
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

// startDrill runs karpctl as a separate process and returns once it printed a timeline line of kind,
// with the rest of that line and what it printed up to it (stdout; stderr is collected in errOut,
// to be read after Wait).
func startDrill(ctx context.Context, t *testing.T, kind string, args ...string) (cmd *exec.Cmd, rest, head string, tail <-chan string, errOut *strings.Builder) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.CommandContext(ctx, self, append(args, "--kubeconfig", sb.Kubeconfig())...)
	cmd.Env = append(os.Environ(), karpctlEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut = &strings.Builder{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		lines.WriteString(sc.Text() + "\n")
		if i := strings.Index(sc.Text(), kind); i >= 0 {
			rest := make(chan string, 1)
			go func() { // keep the pipe drained; the rest of the output once it closes
				var b strings.Builder
				for sc.Scan() {
					b.WriteString(sc.Text() + "\n")
				}
				rest <- b.String()
			}()
			return cmd, strings.TrimSpace(sc.Text()[i+len(kind):]), lines.String(), rest, errOut
		}
	}
	_ = cmd.Wait()
	t.Fatalf("the drill printed no %s line:\n%s%s", kind, lines.String(), errOut.String())
	return nil, "", "", nil, nil
}

// Acceptance: Ctrl-C (SIGINT) once the new leader has created the probe's NodeClaim: the drill
// deletes the probe pod and that NodeClaim and its lock before it exits (3, interrupted).
func TestRealKarpenterProbeSIGINT(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	steady(ctx, t)
	cmd, rest, head, tail, errOut := startDrill(ctx, t, drill.EvProbeNodeClaim, "drill", "leader-kill", "--probe", "--yes")
	claim := strings.Fields(rest)[0]
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	after := <-tail
	_ = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit %d after SIGINT, want 3:\n%s%s%s", code, head, after, errOut.String())
	}
	if !strings.Contains(after, "probe-deleted              nodeclaim "+claim) {
		t.Fatalf("the interrupted drill did not delete NodeClaim %s:\n%s%s%s", claim, head, after, errOut.String())
	}
	t.Logf("interrupted once NodeClaim %s was seen:\n%s%s%s", claim, head, after, errOut.String())
	t0 := time.Now()
	leftBehind(ctx, t, claim)
	t.Logf("nothing left behind %s after the drill exited", time.Since(t0).Round(100*time.Millisecond))
	steady(ctx, t)
}

// zone-outage --probe with the leader's zone lost: the probe's node is launched outside that zone.
func TestRealKarpenterZoneOutageProbe(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	ld := steady(ctx, t)
	pods, err := sb.KarpenterPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	zone := ""
	for _, p := range pods {
		if p.Name == ld.Pod {
			n, err := sb.Env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			zone = lease.ZoneOf(n)
		}
	}
	d, r := runDrill(ctx, t, "zone-outage", zone, "--probe", "--yes")
	p := d.Probe
	if r.Code != 0 || d.Result != drill.Pass || p == nil || p.Result != drill.Pass || p.Zone == "" || p.Zone == zone || p.CreatedBy != d.NewLeader {
		t.Fatalf("exit %d: %s %s; probe %+v", r.Code, d.Result, d.Reason, p)
	}
	leftBehind(ctx, t, p.NodeClaim)
	t.Logf("zone-outage %s: failover %.3fs, provisioning resumed after %.3fs in %s", zone, d.FailoverSeconds, p.NodeClaimSeconds, p.Zone)
	steady(ctx, t)
}

// Acceptance: SIGKILL of karpctl once the new leader has created the probe's NodeClaim, then `drill
// restore`: the probe pod, its NodeClaim and the drill lock are all gone.
func TestRealKarpenterProbeSIGKILLRestore(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 5*time.Minute)
	steady(ctx, t)
	cmd, rest, head, _, _ := startDrill(ctx, t, drill.EvProbeNodeClaim, "drill", "leader-kill", "--probe", "--yes")
	claim := strings.Fields(rest)[0]
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	t.Logf("killed karpctl after it saw NodeClaim %s:\n%s", claim, head)
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
