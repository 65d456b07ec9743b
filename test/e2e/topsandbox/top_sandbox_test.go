// End-to-end test of `kubectl karpctl top` on a terminal (tmux) against the real Karpenter v1.15.0
// (kwok build) of the sandbox: the leader, a scale-up seen as pending pods and predicted NodeClaims
// and then as the nodes Karpenter launches, a leader handover, and q.
package topsandbox

import (
	"context"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	if os.Getenv(e2e.RunKarpctlEnv) != "" {
		os.Exit(commands.Main(append([]string{"kubectl-karpctl"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	// Karpenter waits 5 s after the last pending pod before it launches: long enough for top's
	// prediction, made at most a second after the pods appear, to come first.
	os.Exit(sandbox.Main(m, sandbox.Options{KarpenterEnv: map[string]string{"BATCH_IDLE_DURATION": "5s", "BATCH_MAX_DURATION": "20s"}}, &sb))
}

// predictedGroups reads Next's lines of new NodeClaims ("  2× default c-4x-amd64-linux …"): the
// instance types of the NodeClaims top predicts for the sandbox's NodePool, one entry per claim.
func predictedGroups(screen, pool string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^\s+(\d+)× (\S+) (\S+) `).FindAllStringSubmatch(screen, -1) {
		n, _ := strconv.Atoi(m[1])
		if m[2] != pool {
			out = append(out, "NodePool "+m[2])
			continue
		}
		for range n {
			out = append(out, m[3])
		}
	}
	sort.Strings(out)
	return out
}

// nodesOf reads the NODES column of the NodePool's row on the screen (-1 when not shown).
func nodesOf(screen, pool string) int {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(pool) + `\s+(\d+)\s`).FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestTopWithRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 8*time.Minute)
	ld, err := sb.WaitForLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	x := e2e.StartTmux(t, 120, 40, []string{"NO_COLOR=1", "TERM=xterm-256color"}, "top", "--kubeconfig", sb.Kubeconfig(), "--predict-interval", "2s")
	first := x.WaitFor(ctx, t, "leader "+ld.Pod, "lease Healthy", sb.NodePool, "NEXT")
	t.Logf("first screen:\n%s", first)
	before := nodesOf(first, sb.NodePool)
	if before < 0 {
		t.Fatalf("no row for NodePool %s:\n%s", sb.NodePool, first)
	}
	existing := map[string]bool{}
	ncs, err := sb.NodeClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, nc := range ncs {
		existing[nc.Name] = true
	}

	// Scale up: three 2-CPU replicas Karpenter must launch nodes for.
	d := sandbox.Workload{Namespace: "default", Name: "top-scale", Replicas: 3, CPU: "2", Memory: "1Gi"}.Deployment()
	if _, err := sb.Env.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sb.Env.Client.AppsV1().Deployments(d.Namespace).Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
	predicted := regexp.MustCompile(`launch:\s+([1-9]\d*) NodeClaims .* for 3 pending pods`)
	prediction := x.WaitUntil(ctx, t, "the pending pods and the NodeClaims predicted for them", func(s string) bool {
		return regexp.MustCompile(`Pending pods 3\b`).MatchString(s) && predicted.MatchString(s) && strings.Contains(s, "top-scale-")
	})
	t.Logf("the prediction:\n%s", prediction)
	// docs/top.md shows this screen.
	if path := os.Getenv("TOP_SCREEN_CAPTURE"); path != "" {
		if err := os.WriteFile(path, []byte(prediction), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := predictedGroups(prediction, sb.NodePool)
	m := predicted.FindStringSubmatch(prediction)
	if n, _ := strconv.Atoi(m[1]); n != len(want) || n == 0 {
		t.Fatalf("launch says %s NodeClaims, its lines %v", m[1], want)
	}
	// The real Karpenter launches what top predicted: as many NodeClaims, of the same instance types.
	if _, err := sb.WaitForProvisioned(ctx, d.Namespace); err != nil {
		t.Fatal(err)
	}
	ncs, err = sb.NodeClaims(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var launched []string
	for _, nc := range ncs {
		if !existing[nc.Name] {
			launched = append(launched, nc.InstanceType)
			if nc.NodePool != sb.NodePool {
				t.Errorf("Karpenter launched %s from NodePool %s, top predicted %s", nc.Name, nc.NodePool, sb.NodePool)
			}
		}
	}
	sort.Strings(launched)
	if strings.Join(launched, " ") != strings.Join(want, " ") {
		t.Errorf("Karpenter launched %v, top predicted %v", launched, want)
	}
	after := x.WaitUntil(ctx, t, "the nodes Karpenter launched", func(s string) bool {
		return nodesOf(s, sb.NodePool) == before+len(launched) && regexp.MustCompile(`Pending pods 0\b`).MatchString(s)
	})
	t.Logf("after the scale-up:\n%s", after)

	// Kill the leader: the header shows the handover.
	zero := int64(0)
	if err := sb.Env.Client.CoreV1().Pods(sb.Namespace).Delete(ctx, ld.Pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	next, err := sb.WaitForNewLeader(ctx, ld.Identity)
	if err != nil {
		t.Fatal(err)
	}
	x.WaitFor(ctx, t, "leader "+next.Pod, "lease Healthy")

	x.Keys(t, "q")
	end := x.WaitFor(ctx, t, "karpctl exited 0")
	if regexp.MustCompile(`NODEPOOL|NEXT`).MatchString(end) {
		t.Errorf("the terminal still shows top after q:\n%s", end)
	}
}
