package drill

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/lease"
)

// check plans o's drill of scenario s over a fake client, on a clock standing at t0.
func check(t *testing.T, s scenario, o Options) (*fakeClient, *Preflight) {
	t.Helper()
	f := newFake(s)
	return f, checkWith(t, f, s, o)
}

func checkWith(t *testing.T, f *fakeClient, s scenario, o Options) *Preflight {
	t.Helper()
	if o.Now == nil {
		o.Now = (&clock{now: t0}).Now
	}
	if o.ID == "" {
		o.ID = "drill-test"
	}
	p, err := Check(context.Background(), f, s.k, o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func gateNames(p *Preflight) []string {
	var out []string
	for _, g := range p.Gates {
		out = append(out, g.Name)
	}
	return out
}

func gate(t *testing.T, p *Preflight, name string) Gate {
	t.Helper()
	for _, g := range p.Gates {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no gate %s in %v", name, gateNames(p))
	return Gate{}
}

// changes are the calls that would change the cluster.
var changes = []string{"CreateLease", "DeleteLease", "PatchNode", "Evict", "DeletePod", "CreatePod", "DeleteNode", "PatchNodeClaim", "DeleteNodeClaim"}

func TestCheckLeaderKill(t *testing.T) {
	f, p := check(t, newScenario(), Options{Kind: LeaderKill})
	if want := []string{"permissions", "ready-replicas", "lease", "leader", "pdb", "drill-lock"}; !slices.Equal(gateNames(p), want) {
		t.Fatalf("gates %v, want %v", gateNames(p), want)
	}
	if g := p.Refusal(); g != nil {
		t.Fatalf("refused by %+v", g)
	}
	if p.Kind() != LeaderKill || p.Plan.Leader != "k-a" || p.Plan.LeaderZone != "zone-a" || !slices.Equal(p.Plan.Targets, []string{"k-a"}) || p.Plan.Desired != 2 {
		t.Fatalf("plan %+v", p.Plan)
	}
	if steps := strings.Join(p.Plan.Steps, "\n"); !strings.Contains(steps, "evict (Eviction API, honours PodDisruptionBudgets) k-a") || !strings.Contains(p.Plan.Expect, "released on shutdown: failover ≤ 3s") {
		t.Fatalf("steps %s\nexpect %s", steps, p.Plan.Expect)
	}
	if c := f.called(changes...); len(c) > 0 {
		t.Fatalf("the preflight changed the cluster: %v", c)
	}
}

// A missing permission refuses before anything else is read.
func TestCheckRefusesWithoutPermission(t *testing.T) {
	s := newScenario()
	f := newFake(s)
	f.denied["create pods/eviction"], f.denied["delete leases.coordination.k8s.io"] = true, true
	p := checkWith(t, f, s, Options{Kind: LeaderKill})
	g := p.Refusal()
	if len(p.Gates) != 1 || g == nil || g.Name != "permissions" || !g.Permission ||
		g.Message != "missing RBAC permission: delete leases.coordination.k8s.io in namespace karpenter; create pods/eviction in namespace karpenter" {
		t.Fatalf("gates %+v", p.Gates)
	}
	if c := f.called("Pods", "Node", "Lease", "PDBs"); len(c) > 0 {
		t.Fatalf("read %v after the refusal", c)
	}
}

func TestCheckFailsOnAPIErrors(t *testing.T) {
	boom := errors.New("connection refused")
	for _, call := range []string{"Allowed list pods", "Pods app.kubernetes.io/name=karpenter", "Lease " + LockName, "PDBs"} {
		s := newScenario()
		f := newFake(s)
		f.inject(call, boom)
		if _, err := Check(context.Background(), f, s.k, Options{Kind: LeaderKill, Now: (&clock{now: t0}).Now}); !errors.Is(err, boom) {
			t.Errorf("%s failing: Check returned %v", call, err)
		}
	}
}

func TestInstallationGate(t *testing.T) {
	k := karpenter(2)
	if g := installationGate(k); g != nil {
		t.Fatalf("%+v", g)
	}
	k.LeaderElectionDisabled = true
	if g := installationGate(k); g == nil || g.Name != "leader-election" {
		t.Fatalf("%+v", g)
	}
	k.Deployment = nil
	if g := installationGate(k); g == nil || g.Name != "deployment" {
		t.Fatalf("%+v", g)
	}
	s := newScenario()
	s.k = k
	if _, p := check(t, s, Options{Kind: LeaderKill}); !slices.Equal(gateNames(p), []string{"permissions", "deployment"}) {
		t.Fatalf("gates %v", gateNames(p))
	}
}

func TestReadyGate(t *testing.T) {
	unready, gone := karpPod("k-c", "n-c"), karpPod("k-d", "n-c")
	unready.Status.Conditions[0].Status = corev1.ConditionFalse
	gone.DeletionTimestamp = &metav1.Time{Time: t0}
	g, ready := readyGate([]corev1.Pod{karpPod("k-a", "n-a"), unready, gone})
	if g.Passed || !slices.Equal(ready, []string{"k-a"}) || g.Message != "1 ready replica(s) (k-a): a drill needs ≥ 2, or there is nobody to take over" {
		t.Fatalf("%+v %v", g, ready)
	}
	g, ready = readyGate([]corev1.Pod{karpPod("k-a", "n-a"), karpPod("k-b", "n-b"), unready})
	if !g.Passed || len(ready) != 2 || g.Message != "2 ready: k-a, k-b" {
		t.Fatalf("%+v %v", g, ready)
	}
}

func TestLeaseGate(t *testing.T) {
	k := karpenter(2)
	if g := leaseGate(k, lease.Status{Verdict: lease.Healthy, Reason: "renewed 200ms ago"}); !g.Passed || g.Message != "karpenter/karpenter-leader-election Healthy: renewed 200ms ago" {
		t.Fatalf("%+v", g)
	}
	if g := leaseGate(k, lease.Status{Verdict: lease.Expired, Reason: "not renewed for 20s"}); g.Passed || g.Message != "karpenter/karpenter-leader-election is Expired: not renewed for 20s" {
		t.Fatalf("%+v", g)
	}
	// The scenario's lease, renewed 20 s before the preflight, has expired.
	s := newScenario()
	s.lease = electionLease(leaderID, t0.Add(-20*time.Second), 15)
	if _, p := check(t, s, Options{Kind: LeaderKill}); gate(t, p, "lease").Passed || p.Refusal().Name != "lease" {
		t.Fatalf("gates %+v", p.Gates)
	}
}

func TestLeaderGate(t *testing.T) {
	pods := []corev1.Pod{karpPod("k-a", "n-a"), karpPod("k-b", "n-b")}
	n := node("n-b", "zone-b")
	g, leader := leaderGate(lease.Status{Holder: &lease.Holder{Pod: "k-b"}}, pods, map[string]*corev1.Node{"n-b": &n})
	if !g.Passed || leader == nil || leader.Name != "k-b" || g.Message != "k-b on node n-b (zone zone-b) holds the lease" {
		t.Fatalf("%+v %v", g, leader)
	}
	g, leader = leaderGate(lease.Status{HolderIdentity: "elsewhere_1", Holder: &lease.Holder{Pod: "elsewhere"}}, pods, nil)
	if g.Passed || leader != nil || g.Message != `holder "elsewhere_1" is not a known Karpenter pod` {
		t.Fatalf("%+v %v", g, leader)
	}
}

// zone-a holds the leader's node, a node someone else cordoned and a node Karpenter launched: the
// drill cordons only the first.
func TestCheckZoneOutage(t *testing.T) {
	s := newScenario()
	cordoned := node("n-a2", "zone-a")
	cordoned.Spec.Unschedulable = true
	s.nodes = append(s.nodes, cordoned, node("n-a3", "zone-a", karpv1.NodePoolLabelKey, "default"))
	_, p := check(t, s, Options{Kind: ZoneOutage, Zone: "zone-a"})
	if want := []string{"permissions", "ready-replicas", "lease", "leader", "zone", "replicas-in-zone", "pdb", "drill-lock"}; !slices.Equal(gateNames(p), want) {
		t.Fatalf("gates %v, want %v", gateNames(p), want)
	}
	if p.Refusal() != nil || !slices.Equal(p.Plan.Cordon, []string{"n-a"}) || !slices.Equal(p.Plan.Targets, []string{"k-a"}) {
		t.Fatalf("gates %+v, plan %+v", p.Gates, p.Plan)
	}
	want := []string{"n-a2: already cordoned before the drill, stays cordoned", "n-a3: Karpenter-managed workload node (karpenter.sh/nodepool), left alone"}
	if !slices.Equal(p.Plan.Skipped, want) {
		t.Fatalf("skipped %q, want %q", p.Plan.Skipped, want)
	}
	if g := gate(t, p, "zone"); g.Message != "3 node(s) in zone-a; will cordon 1: n-a" {
		t.Fatal(g.Message)
	}
	if g := gate(t, p, "replicas-in-zone"); g.Message != "1 replica(s) in zone-a (k-a), 1 ready elsewhere" {
		t.Fatal(g.Message)
	}
}

func TestCheckZoneOutageRefusals(t *testing.T) {
	_, p := check(t, newScenario(), Options{Kind: ZoneOutage, Zone: "zone-z"})
	if g := p.Refusal(); g == nil || g.Name != "zone" || g.Message != "no node has topology.kubernetes.io/zone=zone-z" {
		t.Fatalf("%+v", g)
	}
	s := newScenario()
	s.nodes = append(s.nodes, node("n-x", "zone-c", CordonLabel, "drill-old"))
	_, p = check(t, s, Options{Kind: ZoneOutage, Zone: "zone-b"})
	if g := p.Refusal(); g == nil || g.Name != "leftover-cordons" || !strings.Contains(g.Message, "n-x (drill-old); run `kubectl karpctl drill restore` first") {
		t.Fatalf("%+v", g)
	}
}

func TestReplicasInZoneGate(t *testing.T) {
	if g := replicasInZoneGate("zone-a", nil, 2, false); !g.Passed || !strings.Contains(g.Message, "the drill only cordons") {
		t.Fatalf("%+v", g)
	}
	if g := replicasInZoneGate("zone-a", []string{"k-a", "k-b"}, 0, false); g.Passed || !g.Overridable || g.Forced {
		t.Fatalf("%+v", g)
	}
	if g := replicasInZoneGate("zone-a", []string{"k-a", "k-b"}, 0, true); !g.Forced {
		t.Fatalf("--force: %+v", g)
	}
	if g := replicasInZoneGate("zone-a", []string{"k-a"}, 1, false); !g.Passed {
		t.Fatalf("%+v", g)
	}
}

func TestPDBGate(t *testing.T) {
	sel := map[string]string{"app": "k"}
	pods := []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: sel}}}
	budget := func(spec policyv1.PodDisruptionBudgetSpec, observed int64, allowed int32) []policyv1.PodDisruptionBudget {
		spec.Selector = &metav1.LabelSelector{MatchLabels: sel}
		return []policyv1.PodDisruptionBudget{{ObjectMeta: metav1.ObjectMeta{Name: "k", Generation: 1}, Spec: spec,
			Status: policyv1.PodDisruptionBudgetStatus{ObservedGeneration: observed, DisruptionsAllowed: allowed}}}
	}
	val := func(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }
	for _, tc := range []struct {
		name   string
		pdbs   []policyv1.PodDisruptionBudget
		passed bool
		msg    string
	}{
		{"spec maxUnavailable 0, status not computed", budget(policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("0")}, 0, 0), false,
			"PodDisruptionBudget k allows 0 disruption(s) (spec (status not computed yet)): the eviction would be refused"},
		{"status allows 1", budget(policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("1")}, 1, 1), true, "PodDisruptionBudget k allows 1"},
		// Status says 0 (e.g. a replica not Ready) even though the spec allows 1: trust the status.
		{"status says 0", budget(policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("1")}, 1, 0), false,
			"PodDisruptionBudget k allows 0 disruption(s) (status.disruptionsAllowed): the eviction would be refused"},
		{"spec minAvailable 1 of 2 ready", budget(policyv1.PodDisruptionBudgetSpec{MinAvailable: val("1")}, 0, 0), true, "PodDisruptionBudget k allows 1"},
		{"spec minAvailable 100%", budget(policyv1.PodDisruptionBudgetSpec{MinAvailable: val("100%")}, 0, 0), false,
			"PodDisruptionBudget k allows 0 disruption(s) (spec (status not computed yet)): the eviction would be refused"},
		{"spec maxUnavailable 50%", budget(policyv1.PodDisruptionBudgetSpec{MaxUnavailable: val("50%")}, 0, 0), true, "PodDisruptionBudget k allows 1"},
		{"no PDB", nil, true, "no PodDisruptionBudget selects the target pods"},
	} {
		if g := pdbGate(tc.pdbs, pods, []string{"a"}, 2, 2); g.Passed != tc.passed || g.Message != tc.msg {
			t.Errorf("%s: %+v, want passed %t: %s", tc.name, g, tc.passed, tc.msg)
		}
	}
}

// --mode hard bypasses a PodDisruptionBudget that allows nothing.
func TestCheckHardModeBypassesPDBs(t *testing.T) {
	s := newScenario()
	s.pdbs[0].Status.DisruptionsAllowed = 0
	_, p := check(t, s, Options{Kind: LeaderKill})
	if g := p.Refusal(); g == nil || g.Name != "pdb" {
		t.Fatalf("evict: %+v", p.Gates)
	}
	_, p = check(t, s, Options{Kind: LeaderKill, Mode: Hard})
	if g := gate(t, p, "pdb"); !g.Passed || !strings.Contains(g.Message, "bypasses PodDisruptionBudgets") || p.Refusal() != nil {
		t.Fatalf("hard: %+v", p.Gates)
	}
}

func TestLockGate(t *testing.T) {
	holder := "drill-other"
	lock := func(age time.Duration) *coordinationv1.Lease {
		at := metav1.NewMicroTime(t0.Add(-age))
		return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &at}}
	}
	o := Options{Timeout: time.Minute, Now: (&clock{now: t0}).Now}
	if g := lockGate(nil, ns, o); !g.Passed || g.Message != "no other drill running (no Lease karpenter/karpctl-drill)" {
		t.Fatalf("%+v", g)
	}
	if g := lockGate(lock(10*time.Second), ns, o); g.Passed || g.Overridable || g.Message != "drill drill-other is running (Lease karpenter/karpctl-drill, started 10s ago); if it was killed, `kubectl karpctl drill restore --id drill-other` cleans up after it" {
		t.Fatalf("fresh: %+v", g)
	}
	if g := lockGate(lock(10*time.Minute), ns, o); g.Passed || !g.Overridable || g.Forced || !strings.HasPrefix(g.Message, "stale lock: drill drill-other started 10m0s ago (> timeout 1m0s)") {
		t.Fatalf("stale: %+v", g)
	}
	o.Force = true
	if g := lockGate(lock(10*time.Minute), ns, o); !g.Forced {
		t.Fatalf("stale, --force: %+v", g)
	}
}
