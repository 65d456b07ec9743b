package drill

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// Acceptance 3: refusals leave the cluster unchanged.
func TestPreflightRefusals(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 4*time.Minute)
	refuse := func(t *testing.T, ns string, wantCode int, want string, args ...string) {
		t.Helper()
		before := snapshot(ctx, t, ns)
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"drill", "leader-kill", "--karpenter-namespace", ns, "--retry-period", "250ms"}, args...)...)
		if r.Code != wantCode || !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Fatalf("exit %d, want %d with %q:\n%s%s", r.Code, wantCode, want, r.Stdout, r.Stderr)
		}
		time.Sleep(300 * time.Millisecond) // anything the drill had started would show by now
		e2e.Unchanged(t, before, snapshot(ctx, t, ns))
	}
	t.Run("one ready replica", func(t *testing.T) {
		karpenter(ctx, t, "pf-one", 1, false, false)
		refuse(t, "pf-one", 3, "gate ready-replicas: 1 ready replica(s)", "--yes")
	})
	t.Run("maxUnavailable 0", func(t *testing.T) {
		const ns = "pf-pdb"
		karpenter(ctx, t, ns, 2, false, false)
		zero := intstr.FromInt32(0)
		pdb := harness.KarpenterPDB(ns)
		pdb.Spec.MaxUnavailable = &zero
		if _, err := env.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSettled(ctx, t, ns, 2)
		refuse(t, ns, 3, "PodDisruptionBudget karpenter allows 0 disruption(s)", "--yes")
		// --force does not override it.
		refuse(t, ns, 3, "PodDisruptionBudget karpenter allows 0", "--yes", "--force")
	})
	t.Run("no TTY without --yes", func(t *testing.T) {
		const ns = "pf-tty"
		karpenter(ctx, t, ns, 2, true, false)
		refuse(t, ns, 2, "standard input is not a terminal; pass --yes")
		// --dry-run prints the plan and changes nothing either.
		refuse(t, ns, 0, "Dry run: nothing was changed", "--dry-run")
	})
	t.Run("stale lease", func(t *testing.T) {
		const ns = "pf-stale"
		s := karpenter(ctx, t, ns, 2, true, false)
		s.killAll()
		time.Sleep(2500 * time.Millisecond) // past the 2 s lease duration
		refuse(t, ns, 3, "gate lease: "+ns+"/"+discovery.DefaultLeaseName+" is Expired", "--yes")
	})
	t.Run("probe without a NodePool", func(t *testing.T) {
		const ns = "pf-probe"
		karpenter(ctx, t, ns, 2, true, false)
		refuse(t, ns, 3, "gate probe: no NodePool the probe can use: no usable NodePool: the cluster has no NodePools", "--yes", "--probe")
		refuse(t, ns, 2, "--probe-requests needs --probe", "--yes", "--probe-requests", "cpu=1")
		refuse(t, ns, 2, "--probe-requests \"cpu\": want NAME=QUANTITY", "--yes", "--probe", "--probe-requests", "cpu")
	})
	t.Run("drill already running", func(t *testing.T) {
		const ns = "pf-lock"
		karpenter(ctx, t, ns, 2, true, false)
		lockLease(ctx, t, ns, "drill-other", time.Now())
		refuse(t, ns, 3, "drill drill-other is running", "--yes", "--force")
	})
}

// Acceptance 5: a read-only identity is refused with the missing verbs named, before anything changes.
func TestRBACReadOnlyRefused(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	const ns = "rbac"
	karpenter(ctx, t, ns, 2, true, false)
	kc := readOnly(ctx, t)
	before := snapshot(ctx, t, ns)
	r := e2e.Karpctl(ctx, t, kc, "drill", "leader-kill", "--yes", "--karpenter-namespace", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "missing RBAC permission: create leases.coordination.k8s.io in namespace rbac") ||
		!strings.Contains(r.Stderr, "create pods/eviction in namespace rbac") {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	r = e2e.Karpctl(ctx, t, kc, "drill", "zone-outage", "zone-a", "--yes", "--karpenter-namespace", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "patch nodes") {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") && !strings.Contains(q, "selfsubjectaccessreviews") {
			t.Errorf("a refused drill sent %s", q)
		}
	}
	e2e.Unchanged(t, before, snapshot(ctx, t, ns))
}

// readOnly mints a user who may read Deployments, pods, events, leases, nodes and PDBs, and nothing else.
func readOnly(ctx context.Context, t *testing.T) string {
	t.Helper()
	kc, err := env.RestrictedKubeconfig(ctx, "drill-viewer",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "events", "nodes"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "list", "watch"}},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"get", "list"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}
