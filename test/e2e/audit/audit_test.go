// End-to-end tests of `kubectl karpctl audit-topology` on a real kube-apiserver with kwok nodes in
// three zones and one Karpenter-managed node.
package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/internal/topology/sariftest"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{Kwok: true}, &env)) }

const rackLabel = "example.com/rack"

var nodesOnce sync.Once

// nodes: a1, a2 in zone-a; b1 in zone-b; c1 in zone-c; kp-a (zone-a) is Karpenter-managed.
// a1 and a2 are in rack r1, b1 in r2, c1 in r3.
func nodes(ctx context.Context, t *testing.T) {
	nodesOnce.Do(func() {
		b := harness.NewBuilder(env.Client)
		for _, n := range []harness.NodeSpec{
			{Name: "a1", Zone: "zone-a", Labels: map[string]string{rackLabel: "r1"}},
			{Name: "a2", Zone: "zone-a", Labels: map[string]string{rackLabel: "r1"}},
			{Name: "b1", Zone: "zone-b", Labels: map[string]string{rackLabel: "r2"}},
			{Name: "c1", Zone: "zone-c", Labels: map[string]string{rackLabel: "r3"}},
			{Name: "kp-a", Zone: "zone-a", Labels: map[string]string{"karpenter.sh/nodepool": "default", "karpenter.sh/registered": "true"}},
		} {
			b.Node(ctx, t, n)
		}
	})
}

// deploy creates d (and the chart's PDB when pdb) in d's namespace, one ready pod per node, and a
// Lease held by the first pod.
func deploy(ctx context.Context, t *testing.T, d *appsv1.Deployment, pdb bool, on ...string) {
	t.Helper()
	nodes(ctx, t)
	b := harness.NewBuilder(env.Client)
	ns := d.Namespace
	b.Namespace(ctx, t, ns)
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pdb {
		if _, err := env.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, harness.KarpenterPDB(ns), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i, n := range on {
		p := b.Pod(ctx, t, harness.PodSpec{Namespace: ns, Name: fmt.Sprintf("%s-7d9f8c6b5-%c", d.Name, 'a'+i), Node: n,
			Labels: d.Spec.Template.Labels, Template: &d.Spec.Template.Spec})
		names = append(names, p.Name)
	}
	if len(names) > 0 {
		id, dur, now := names[0]+"_7f1c2e9a-0000-4000-8000-000000000001", int32(3600), metav1.NewMicroTime(time.Now())
		l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter-leader-election"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, AcquireTime: &now, RenewTime: &now}}
		if _, err := env.Client.CoordinationV1().Leases(ns).Create(ctx, l, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// kwok turns the pods Running and Ready.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ready := 0
	if !harness.WaitFor(wctx, func() bool {
		list, err := env.Client.CoreV1().Pods(ns).List(wctx, metav1.ListOptions{})
		ready = 0
		if err == nil {
			for i := range list.Items {
				if discovery.PodReady(&list.Items[i]) {
					ready++
				}
			}
		}
		return ready == len(on)
	}) {
		t.Fatalf("pods in %s not ready (%v): %d/%d", ns, wctx.Err(), ready, len(on))
	}
}

func chart(ns string) *appsv1.Deployment {
	return harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns})
}

func audit(ctx context.Context, t *testing.T, ns string, args ...string) (topology.Report, e2e.Result) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"audit-topology", "--karpenter-namespace", ns, "-o", "json"}, args...)...)
	var rep topology.Report
	r.Decode(t, &rep)
	return rep, r
}

func findings(r topology.Report, sev topology.Severity) []string {
	var out []string
	for _, f := range r.Findings {
		if sev == "" || f.Severity == sev {
			out = append(out, f.ID)
		}
	}
	return out
}

func only(t *testing.T, r topology.Report, id string) topology.Finding {
	t.Helper()
	var got []topology.Finding
	for _, f := range r.Findings {
		if f.ID == id {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("want exactly one %s, got %d (all: %v)", id, len(got), findings(r, ""))
	}
	if got[0].Remediation == "" || got[0].Message == "" {
		t.Fatalf("finding without message or remediation: %+v", got[0])
	}
	return got[0]
}

// Acceptance 1 and 6 (the passing half).
func TestChartDefault(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	deploy(ctx, t, chart("chart"), true, "a1", "b1")

	r, res := audit(ctx, t, "chart")
	if res.Code != 0 || len(findings(r, topology.Error)) != 0 || len(findings(r, topology.Warning)) != 0 {
		t.Fatalf("basic: exit %d, findings %v", res.Code, findings(r, ""))
	}
	if r.Leader != "karpenter-7d9f8c6b5-a" {
		t.Fatalf("leader %q", r.Leader)
	}
	if r.Replicas.Ready != 2 || strings.Join(r.EligibleZones, ",") != "zone-a,zone-b,zone-c" {
		t.Fatalf("replicas %+v zones %v", r.Replicas, r.EligibleZones)
	}
	var zoneA *topology.LossScenario
	for i := range r.ZoneLoss {
		if r.ZoneLoss[i].Domain == "zone-a" {
			zoneA = &r.ZoneLoss[i]
		}
	}
	if zoneA == nil || zoneA.Remaining != 1 || zoneA.LeaderLost == nil || !*zoneA.LeaderLost || zoneA.Outcome != "failover" {
		t.Fatalf("zone-a loss: %+v", zoneA)
	}
	if _, res := audit(ctx, t, "chart", "--fail-on", "warning"); res.Code != 0 {
		t.Fatalf("--fail-on warning on the chart default: exit %d", res.Code)
	}

	r, res = audit(ctx, t, "chart", "--profile", "critical")
	if res.Code != 3 {
		t.Fatalf("critical: exit %d", res.Code)
	}
	only(t, r, "replicas-below-profile")
	only(t, r, "zones-below-profile")

	// Human output: placement table, findings by severity, zone-loss table, one summary line.
	h := e2e.Karpctl(ctx, t, env.Kubeconfig, "audit-topology", "--karpenter-namespace", "chart", "--profile", "critical", "--rack-label", rackLabel)
	for _, want := range []string{"POD", "KARPENTER-MANAGED", "ERRORS (2)", "[zones-below-profile]", "fix:", "ZONE LOST", "NODE LOST", "failover", "exit 3 with --fail-on error"} {
		if !strings.Contains(h.Stdout, want) {
			t.Errorf("human output lacks %q", want)
		}
	}
	if lines := strings.Split(strings.TrimSpace(h.Stderr), "\n"); h.Code != 3 || len(lines) != 1 {
		t.Fatalf("exit %d, stderr %q", h.Code, h.Stderr)
	}
	if dir := os.Getenv("KARPCTL_AUDIT_SAMPLE"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "audit-critical.txt"), []byte(h.Stdout), 0o644)
	}
}

// Acceptance 2.
func TestPlacementErrors(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	for _, c := range []struct {
		ns     string
		nodes  []string
		want   string
		errors string // all errors: one host is also one zone
	}{
		{"one-host", []string{"a1", "a1"}, "hosts-shared", "zones-single hosts-shared"},
		{"one-zone", []string{"a1", "a2"}, "zones-single", "zones-single"},
		{"on-karpenter", []string{"kp-a", "b1"}, "isolation-karpenter-node", "isolation-karpenter-node"},
	} {
		t.Run(c.want, func(t *testing.T) {
			deploy(ctx, t, chart(c.ns), true, c.nodes...)
			r, res := audit(ctx, t, c.ns)
			f := only(t, r, c.want)
			if f.Severity != topology.Error || res.Code != 3 {
				t.Fatalf("%+v exit %d", f, res.Code)
			}
			if errs := strings.Join(findings(r, topology.Error), " "); errs != c.errors {
				t.Fatalf("want errors %s, got %s", c.errors, errs)
			}
		})
	}
}

// Acceptance 3 and 6 (the failing half).
func TestSpecWarnings(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	mod := func(f func(*corev1.PodSpec)) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) { f(&d.Spec.Template.Spec) }
	}
	for _, c := range []struct {
		ns   string
		pdb  bool
		edit func(*appsv1.Deployment)
		want string
	}{
		{"no-pdb", false, func(*appsv1.Deployment) {}, "pdb-missing"},
		{"no-spread", true, mod(func(s *corev1.PodSpec) { s.TopologySpreadConstraints = nil }), "spread-missing"},
		{"anyway", true, mod(func(s *corev1.PodSpec) { s.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway }), "spread-schedule-anyway"},
		{"no-anti", true, mod(func(s *corev1.PodSpec) { s.Affinity.PodAntiAffinity = nil }), "anti-affinity-missing"},
		{"no-prio", true, mod(func(s *corev1.PodSpec) { s.PriorityClassName = "" }), "priority-class-missing"},
		{"no-requests", true, mod(func(s *corev1.PodSpec) { s.Containers[0].Resources = corev1.ResourceRequirements{} }), "requests-missing"},
	} {
		t.Run(c.want, func(t *testing.T) {
			d := chart(c.ns)
			c.edit(d)
			deploy(ctx, t, d, c.pdb, "a1", "b1")
			r, res := audit(ctx, t, c.ns)
			if w := findings(r, topology.Warning); len(w) != 1 || w[0] != c.want {
				t.Fatalf("want exactly [%s], got %v", c.want, w)
			}
			only(t, r, c.want)
			if res.Code != 0 {
				t.Fatalf("--fail-on error (default) with warnings only: exit %d", res.Code)
			}
			if _, res := audit(ctx, t, c.ns, "--fail-on", "warning"); res.Code != 3 {
				t.Fatalf("--fail-on warning: exit %d", res.Code)
			}
			if _, res := audit(ctx, t, c.ns, "--fail-on", "never", "--profile", "critical"); res.Code != 0 {
				t.Fatalf("--fail-on never: exit %d", res.Code)
			}
		})
	}
}

// Acceptance 4.
func TestRacks(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	deploy(ctx, t, chart("racks"), true, "a1", "b1")
	r, _ := audit(ctx, t, "racks", "--rack-label", rackLabel)
	if c, _ := r.Check(topology.CheckRacks); c.Status != topology.Passed {
		t.Fatalf("rack label present: %+v", c)
	}
	if r.Placements[0].Rack != "r1" || r.Placements[1].Rack != "r2" {
		t.Fatalf("%+v", r.Placements)
	}
	r, res := audit(ctx, t, "racks", "--rack-label", "example.com/no-such-rack")
	if c, _ := r.Check(topology.CheckRacks); c.Status != topology.Skipped {
		t.Fatalf("rack label absent must be skipped, got %+v", c)
	}
	if f := only(t, r, "racks-unknown"); f.Severity != topology.Info || !strings.Contains(f.Message, "could not check") || res.Code != 0 {
		t.Fatalf("%+v exit %d", f, res.Code)
	}
	h := e2e.Karpctl(ctx, t, env.Kubeconfig, "audit-topology", "--karpenter-namespace", "racks", "--rack-label", "example.com/no-such-rack")
	if !strings.Contains(h.Stdout, "could not check rack spread") || !strings.Contains(h.Stdout, "never counted as passed") {
		t.Fatalf("human output does not say the rack check did not run")
	}
	// Two replicas in one rack (a1, a2 are both r1) and one zone.
	deploy(ctx, t, chart("one-rack"), true, "a1", "a2")
	r, _ = audit(ctx, t, "one-rack", "--rack-label", rackLabel)
	only(t, r, "racks-shared")
}

// dump serialises live objects as a manifest, the way `kubectl get -o yaml` would.
func dump(t *testing.T, objs ...any) []byte {
	t.Helper()
	var docs []string
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(b))
	}
	return []byte(strings.Join(docs, "---\n"))
}

func specOnly(r topology.Report) string {
	var out []string
	for _, f := range r.Findings {
		if f.IsSpec() {
			out = append(out, f.ID+": "+f.Message)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// Acceptance 5, and SARIF (acceptance 6).
func TestOfflineMatchesLive(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 2*time.Minute)
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "mixed", Replicas: 2, Env: map[string]string{"DISABLE_LEADER_ELECTION": "true"}})
	d.Spec.Template.Spec.TopologySpreadConstraints[0].WhenUnsatisfiable = corev1.ScheduleAnyway
	d.Spec.Template.Spec.PriorityClassName = ""
	deploy(ctx, t, d, true, "a1", "b1")

	live, _ := audit(ctx, t, "mixed")
	dep, err := env.Client.AppsV1().Deployments("mixed").Get(ctx, "karpenter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dep.APIVersion, dep.Kind = "apps/v1", "Deployment"
	pdb, err := env.Client.PolicyV1().PodDisruptionBudgets("mixed").Get(ctx, "karpenter", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.APIVersion, pdb.Kind = "policy/v1", "PodDisruptionBudget"
	file := filepath.Join(t.TempDir(), "karpenter.yaml")
	if err := os.WriteFile(file, dump(t, dep, pdb), 0o644); err != nil {
		t.Fatal(err)
	}
	res := e2e.Karpctl(ctx, t, "", "audit-topology", "-f", file, "-o", "json")
	var off topology.Report
	res.Decode(t, &off)
	if a, b := specOnly(off), specOnly(live); a != b || !strings.Contains(a, "leader-election-disabled") || !strings.Contains(a, "spread-schedule-anyway") {
		t.Fatalf("offline spec findings differ from live:\noffline:\n%s\nlive:\n%s", a, b)
	}
	if off.Mode != "offline" || len(res.Requests) != 0 {
		t.Fatalf("offline audit sent %d requests", len(res.Requests))
	}
	for _, c := range []string{topology.CheckReadiness, topology.CheckZones, topology.CheckHosts, topology.CheckIsolation, topology.CheckFlowSchema} {
		if got, _ := off.Check(c); got.Status != topology.Skipped {
			t.Errorf("offline %s: %+v", c, got)
		}
	}
	// stdin, as with `helm template ... | kubectl karpctl audit-topology -f -`
	in := e2e.KarpctlIn(ctx, t, "", dump(t, dep, pdb), "audit-topology", "-f", "-", "-o", "json")
	var fromStdin topology.Report
	in.Decode(t, &fromStdin)
	if specOnly(fromStdin) != specOnly(off) {
		t.Fatalf("stdin: spec findings differ from the file's: %s", in.Stderr)
	}

	for _, args := range [][]string{
		{"audit-topology", "--karpenter-namespace", "mixed", "-o", "sarif"},
		{"audit-topology", "-f", file, "-o", "sarif"},
	} {
		kc := env.Kubeconfig
		if args[1] == "-f" {
			kc = ""
		}
		s := e2e.Karpctl(ctx, t, kc, args...)
		if err := sariftest.Validate([]byte(s.Stdout)); err != nil {
			t.Fatalf("%v: SARIF invalid: %v", args, err)
		}
		var log topology.SARIFLog
		s.Decode(t, &log)
		if len(log.Runs[0].Results) != len(live.Findings) && args[1] != "-f" {
			t.Fatalf("SARIF has %d results, JSON %d findings", len(log.Runs[0].Results), len(live.Findings))
		}
		if s.Code != 3 {
			t.Fatalf("SARIF run exit %d (leader-election-disabled is an error)", s.Code)
		}
	}
}

// Acceptance 8: bad input is one line and exit 2, before any request.
func TestBadInput(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.yaml")
	_ = os.WriteFile(bad, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: karpenter\nspec:\n  replicas: two\n"), 0o644)
	for _, args := range [][]string{
		{"audit-topology", "-f", bad},
		{"audit-topology", "-f", filepath.Join(dir, "missing.yaml")},
		{"audit-topology", "--profile", "gold"},
		{"audit-topology", "--fail-on", "info"},
		{"audit-topology", "--system-node-selector", "a in (b"},
		{"audit-topology", "--nodes-file", bad},
		{"audit-topology", "--chunk-size", "0"},
	} {
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, args...)
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		if r.Code != 2 || len(lines) != 1 || len(r.Requests) != 0 {
			t.Fatalf("%v: exit %d, %d requests, stderr %q", args, r.Code, len(r.Requests), r.Stderr)
		}
		if args[1] == "-f" && !strings.Contains(lines[0], filepath.Base(args[2])) {
			t.Fatalf("error does not name the file: %s", lines[0])
		}
	}
	r := e2e.Karpctl(ctx, t, "", "audit-topology", "-f", bad)
	if !strings.Contains(r.Stderr, "broken.yaml:1: document 1: apps/v1 Deployment: ") || !strings.Contains(r.Stderr, "replicas") {
		t.Fatalf("unclear: %s", r.Stderr)
	}
}

// A user who may not list FlowSchemas gets an info "could not check", not an error.
func TestFlowSchemaForbidden(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	deploy(ctx, t, chart("nofs"), true, "a1", "b1")
	// RestrictedKubeconfig waits until the authorizer has the role (RBAC reaches it a moment after
	// the create).
	kc, err := env.RestrictedKubeconfig(ctx, "auditor",
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "nodes"}, Verbs: []string{"list", "get"}},
		rbacv1.PolicyRule{APIGroups: []string{"policy"}, Resources: []string{"poddisruptionbudgets"}, Verbs: []string{"list"}},
		rbacv1.PolicyRule{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	res := e2e.Karpctl(ctx, t, kc, "audit-topology", "--karpenter-namespace", "nofs", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("audit-topology without FlowSchema access: exit %d %s", res.Code, res.Stderr)
	}
	var r topology.Report
	res.Decode(t, &r)
	f := only(t, r, "flowschema-unknown")
	if f.Severity != topology.Info || !strings.Contains(f.Message, "could not check") {
		t.Fatalf("%+v", f)
	}
}

// Acceptance 7: the request count does not grow with the cluster beyond the node inventory's pages
// (--chunk-size, default 500, as kubectl): with 1,000 extra nodes the same requests plus two more
// pages of the node list, and no per-node GET (the metadata list gives the replicas' nodes).
func TestRequestCountBounded(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 5*time.Minute)
	deploy(ctx, t, chart("cost"), true, "a1", "b1")

	kinds := func(reqs []string) map[string]int {
		m := map[string]int{}
		for _, r := range reqs {
			path, _, _ := strings.Cut(r, "?")
			switch {
			case strings.HasPrefix(r, "GET /api/v1/nodes/"):
				m["node get"]++
			case path == "GET /api/v1/nodes":
				m["node metadata list"]++
			default:
				m[path]++
			}
		}
		return m
	}
	// Deployment list, pod list, node metadata list, PDB list, Lease get, FlowSchema list (not
	// kube-system); nothing per replica.
	const fixed, replicas = 6, 2
	check := func(label string, pages int, args ...string) {
		r, res := audit(ctx, t, "cost", args...)
		if len(res.Requests) != fixed-1+pages {
			t.Fatalf("%s: %d requests, want %d: %v", label, len(res.Requests), fixed-1+pages, res.Requests)
		}
		k := kinds(res.Requests)
		if k["node get"] != 0 || k["node metadata list"] != pages {
			t.Fatalf("%s: %v", label, k)
		}
		for _, req := range res.Requests {
			if !strings.HasPrefix(req, "GET ") {
				t.Fatalf("%s: wrote to the cluster: %s", label, req)
			}
		}
		if strings.Join(r.EligibleZones, ",") != "zone-a,zone-b,zone-c" {
			t.Fatalf("%s: zones %v", label, r.EligibleZones)
		}
	}
	check("small cluster", 1)

	// 1,000 extra nodes (not kwok-managed, so kwok does not heartbeat them), 16 concurrent creators.
	start := time.Now()
	b := harness.NewBuilder(env.Client)
	if err := harness.Parallel(1000, 16, func(i int) error {
		zone := []string{"zone-a", "zone-b", "zone-c"}[i%3]
		_, err := b.CreateNode(ctx, harness.NodeSpec{Name: fmt.Sprintf("bulk-%04d", i), Zone: zone, NotKwok: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("created 1,000 nodes in %s", time.Since(start).Round(time.Millisecond))
	check("1,000 extra nodes", 3)
	check("1,000 extra nodes, --chunk-size 2000", 1, "--chunk-size", "2000")

	// --system-node-selector adds one pod list per replica node.
	_, res := audit(ctx, t, "cost", "--system-node-selector", "node-role/system=true")
	if len(res.Requests) != fixed+2+replicas {
		t.Fatalf("with --system-node-selector: %d requests: %v", len(res.Requests), res.Requests)
	}
}

// A Pending replica is explained with the scheduler's reason and what to do about it.
func TestPendingReplica(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	d := chart("pending")
	deploy(ctx, t, d, true, "a1")
	p := harness.NewBuilder(env.Client).Pod(ctx, t, harness.PodSpec{Namespace: "pending", Name: "karpenter-7d9f8c6b5-p", Labels: d.Spec.Template.Labels, Template: &d.Spec.Template.Spec})
	p.Status.Phase = corev1.PodPending
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 4 Insufficient cpu.", LastTransitionTime: metav1.Now()}}
	if _, err := env.Client.CoreV1().Pods("pending").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r, _ := audit(ctx, t, "pending")
	f := only(t, r, "replica-pending")
	if r.Replicas.Pending != 1 || !strings.Contains(f.Message, "Insufficient cpu") || !strings.Contains(f.Remediation, "Karpenter never launches nodes for itself") {
		t.Fatalf("%+v %+v", r.Replicas, f)
	}
}
