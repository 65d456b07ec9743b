package disrupt

import (
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/test/e2e"
)

// `explain node` and `explain nodeclaim` on the same cluster as disrupt: the idle node is the one
// Emptiness deletes, the busy one stays with disrupt's reason and lists its pod; GETs only.
func TestExplainNodeLive(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	before := resourceVersions(ctx, t)

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "explain", "node", "idle", "-o", "json")
	var idle explain.NodeReport
	r.Decode(t, &idle)
	r.OnlyReads(t)
	if r.Code != cli.ExitOK || idle.NodeExplanation == nil || idle.NodeClaim != "idle" || idle.NodePool != "default" ||
		idle.Disruption.Decision != "delete" || idle.Disruption.Method != "Emptiness" || idle.Rank != 1 || len(idle.Options) != 1 {
		t.Fatalf("exit %d %s\n%+v", r.Code, r.Stderr, idle.NodeExplanation)
	}

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "explain", "nodeclaim", "busy")
	for _, want := range []string{"Node busy (NodeClaim busy) — NodePool default, c-4x-amd64-linux in test-zone-a, on-demand",
		"node.kubernetes.io/instance-type In [c-4x-amd64-linux]", "Pods: 1 (requests cpu 3", "Disruption now: stays — "} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.Stdout)
		}
	}
	r.OnlyReads(t)

	for _, c := range []struct{ args []string }{{[]string{"explain", "node", "nope"}}, {[]string{"explain", "nodeclaim", "nope"}}} {
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, c.args...)
		if r.Code != cli.ExitUsage || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, "nope not found") {
			t.Errorf("%v: exit %d %q", c.args, r.Code, r.Stderr)
		}
	}
	e2e.Unchanged(t, before, resourceVersions(ctx, t))
}
