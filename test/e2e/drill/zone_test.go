package drill

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// inZones keeps the replicas to the given zones. With two zones and the chart's zone spread
// (DoNotSchedule), a replacement for a replica of a cordoned zone cannot schedule until the zone is
// uncordoned: a zone-outage drill then stays mid-action (waiting for Ready replicas) for as long as
// --unschedulable-grace, whatever the machine's speed.
func inZones(zones ...string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		terms := d.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		terms[0].MatchExpressions = append(terms[0].MatchExpressions, corev1.NodeSelectorRequirement{
			Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: zones})
	}
}

// leaderZone is the zone and node of the lease holder's pod.
func leaderZone(ctx context.Context, t *testing.T, ns string) (zone, node string) {
	t.Helper()
	_, pod := holder(ctx, t, ns)
	p, err := env.Client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	return n.Labels[corev1.LabelTopologyZone], n.Name
}

// zoneSetup: Karpenter in ns with the leader's zone found; the other node of that zone is cordoned
// by "someone else" first and must stay cordoned.
func zoneSetup(ctx context.Context, t *testing.T, ns string, edits ...func(*appsv1.Deployment)) (zone, preCordoned string) {
	t.Helper()
	karpenter(ctx, t, ns, 2, true, false, edits...)
	zone, node := leaderZone(ctx, t, ns)
	preCordoned = "sys-" + strings.TrimPrefix(zone, "zone-") + "1"
	if preCordoned == node {
		preCordoned = "sys-" + strings.TrimPrefix(zone, "zone-") + "2"
	}
	setUnschedulable(ctx, t, preCordoned, true)
	t.Cleanup(func() { setUnschedulable(context.Background(), t, preCordoned, false) })
	return zone, preCordoned
}

func setUnschedulable(ctx context.Context, t *testing.T, node string, v bool) {
	patch := fmt.Sprintf(`{"spec":{"unschedulable":%t}}`, v)
	if _, err := env.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Error(err)
	}
}

// cordonState lists the nodes that are unschedulable and those carrying the drill label.
func cordonState(ctx context.Context, t *testing.T) (cordoned, marked []string) {
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			cordoned = append(cordoned, n.Name)
		}
		if n.Labels[drill.CordonLabel] != "" || n.Annotations[drill.CordonAnnotation] != "" {
			marked = append(marked, n.Name)
		}
	}
	sort.Strings(cordoned)
	return cordoned, marked
}

// nodeWriters says, for each node, whether it is unschedulable and which field managers wrote it when:
// the story of a cordon that is not where a test expects it.
func nodeWriters(ctx context.Context, t *testing.T) string {
	nodes, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, n := range nodes.Items {
		fmt.Fprintf(&b, "%s unschedulable=%t rv=%s:", n.Name, n.Spec.Unschedulable, n.ResourceVersion)
		for _, m := range n.ManagedFields {
			fmt.Fprintf(&b, " %s/%s/%s@%s", m.Manager, m.Operation, m.Subresource, m.Time.Format("15:04:05"))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func requireRestored(ctx context.Context, t *testing.T, preCordoned string) {
	t.Helper()
	cordoned, marked := cordonState(ctx, t)
	if len(marked) != 0 || len(cordoned) != 1 || cordoned[0] != preCordoned {
		t.Fatalf("after the drill: cordoned %v (want only %s, cordoned before), marked %v", cordoned, preCordoned, marked)
	}
}

// Acceptance 4: zone-outage with the leader in the zone → PASS, failover measured, replacement in
// another zone, every node it cordoned uncordoned, the pre-cordoned node left cordoned.
func TestZoneOutage(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone"
	zone, pre := zoneSetup(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns, "--retry-period", "250ms", "--timeout", "60s", "--report", report)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	rep := readReport(t, report)
	if rep.Result != drill.Pass || rep.Path != drill.Released || len(rep.Plan.Cordon) != 1 || len(rep.Restored) != 1 || rep.Restored[0] != rep.Plan.Cordon[0] {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(strings.Join(rep.Plan.Skipped, " "), pre+": already cordoned") {
		t.Fatalf("skipped %v", rep.Plan.Skipped)
	}
	requireKinds(t, rep, drill.EvCordoned, drill.EvEvicted, drill.EvAcquired, drill.EvScheduled, drill.EvReady, drill.EvUncordoned)
	checkFailoverAgainstLease(ctx, t, ns, rep)
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
	if e := recorded(t, rep.ID); e.Kind != drill.ZoneOutage || e.Zone != zone || e.Result != drill.Pass {
		t.Fatalf("history %+v", e)
	}
	// The replacement runs outside the zone.
	pods, _ := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	for _, p := range pods.Items {
		n, _ := env.Client.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if p.DeletionTimestamp == nil && n.Labels[corev1.LabelTopologyZone] == zone {
			t.Fatalf("%s still in %s on %s", p.Name, zone, n.Name)
		}
	}
}

// karpctlProcess is this test binary, which runs as karpctl in a separate process (see karpctlEnv),
// and the environment that makes it do so.
func karpctlProcess(t *testing.T) (path string, environ []string) {
	t.Helper()
	path, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return path, append(os.Environ(), karpctlEnv+"=1")
}

// startDrill runs zone-outage as a separate process and returns once it has cordoned a node.
func startDrill(ctx context.Context, t *testing.T, ns, zone string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	karpctl, environ := karpctlProcess(t)
	cmd := exec.CommandContext(ctx, karpctl, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns,
		"--retry-period", "250ms", "--timeout", "60s", "--kubeconfig", env.Kubeconfig)
	cmd.Env = environ
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	cmd.Stderr = &all
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		all.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), drill.EvCordoned) {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, &all
		}
	}
	_ = cmd.Wait()
	t.Fatalf("the drill never cordoned a node:\n%s", all.String())
	return nil, nil
}

// Acceptance 4: SIGINT mid-drill → nodes restored before the process exits. The replacement cannot
// schedule while the zone is cordoned (inZones), so the drill is still waiting when the signal comes;
// with an ordinary setup the simulated failover can finish before the test looks.
func TestZoneOutageSIGINT(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-int"
	zone, pre := zoneSetup(ctx, t, ns, inZones("zone-a", "zone-b"))
	cmd, out := startDrill(ctx, t, ns, zone)
	if cordoned, _ := cordonState(ctx, t); len(cordoned) != 2 {
		t.Fatalf("mid-drill cordoned %v (pre-cordoned %s)\n%s\n%s", cordoned, pre, nodeWriters(ctx, t), out.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	t.Logf("drill exited %d (%v):\n%s", code, err, out.String())
	if code != 3 {
		t.Fatalf("exit %d after SIGINT, want 3 (FAIL: interrupted)", code)
	}
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
}

// Acceptance 4: SIGKILL mid-drill leaves the marks; `drill restore` undoes them.
func TestZoneOutageSIGKILLRestore(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-kill"
	zone, pre := zoneSetup(ctx, t, ns, inZones("zone-a", "zone-b"))
	cmd, _ := startDrill(ctx, t, ns, zone)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	cordoned, marked := cordonState(ctx, t)
	if len(cordoned) != 2 || len(marked) != 1 {
		t.Fatalf("after SIGKILL: cordoned %v marked %v", cordoned, marked)
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns)
	if r.Code != 0 || !strings.Contains(r.Stdout, "uncordoned "+marked[0]) || !strings.Contains(r.Stdout, "deleted drill lock "+ns+"/"+drill.LockName) {
		t.Fatalf("restore: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
	// Idempotent.
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "restore", "--karpenter-namespace", ns)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Nothing to restore") {
		t.Fatalf("second restore: %d %s", r.Code, r.Stdout)
	}
}

// A zone outage whose replacement cannot schedule anywhere (the Deployment allows only two zones, and
// zone spread + host anti-affinity forbid the survivor's zone) ends as FAIL with the scheduler's
// reason once the leader has failed over and --unschedulable-grace has passed — not at --timeout —
// and the cordoned nodes are restored.
func TestZoneOutageReplacementUnschedulable(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-stuck"
	karpenter(ctx, t, ns, 2, false, false, inZones("zone-a", "zone-b"))
	zone, _ := leaderZone(ctx, t, ns)

	report := filepath.Join(t.TempDir(), "r.json")
	start := time.Now()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns,
		"--retry-period", "250ms", "--timeout", "2m", "--unschedulable-grace", "3s", "--report", report)
	took := time.Since(start)
	rep := readReport(t, report)
	if r.Code != 3 || rep.Result != drill.Fail || !strings.Contains(rep.Reason, "cannot schedule") || !strings.Contains(rep.Reason, "gave up before --timeout") {
		t.Fatalf("exit %d, report %s: %s", r.Code, rep.Result, rep.Reason)
	}
	if took > time.Minute {
		t.Fatalf("took %s: the drill waited for --timeout instead of the grace", took)
	}
	requireKinds(t, rep, drill.EvCordoned, drill.EvEvicted, drill.EvAcquired, drill.EvUnschedulable, drill.EvUncordoned)
	if cordoned, marked := cordonState(ctx, t); len(cordoned) != 0 || len(marked) != 0 {
		t.Fatalf("not restored: cordoned %v, marked %v", cordoned, marked)
	}
	lockGone(ctx, t, ns)
	t.Logf("ended after %s: %s", took.Round(100*time.Millisecond), rep.Reason)
}

// An API error in the middle of a drill — the API server fails the eviction — exits 1, not 3: the
// drill still uncordons the zone, deletes its lock, writes its report and records it.
func TestZoneOutageAPIError(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "zone-apierr"
	zone, pre := zoneSetup(ctx, t, ns)
	before := snapshot(ctx, t, ns)
	failEvictions := func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/eviction") {
				return internalError(req, "etcdserver: request timed out"), nil
			}
			return rt.RoundTrip(req)
		})
	}
	report := filepath.Join(t.TempDir(), "r.json")
	r := e2e.KarpctlThrough(ctx, t, env.Kubeconfig, failEvictions, "drill", "zone-outage", zone, "--yes", "--karpenter-namespace", ns,
		"--retry-period", "250ms", "--timeout", "60s", "--report", report)
	rep := readReport(t, report)
	if r.Code != 1 || rep.Result != drill.Fail || !strings.Contains(r.Stderr, "drill zone-outage FAIL: evicting ") || !strings.Contains(rep.Reason, "etcdserver: request timed out") {
		t.Fatalf("exit %d, report %s: %s\n%s", r.Code, rep.Result, rep.Reason, r.Stderr)
	}
	requireKinds(t, rep, drill.EvCordoned, drill.EvUncordoned, drill.EvLockReleased)
	if len(rep.Restored) != 1 || rep.Restored[0] != rep.Plan.Cordon[0] {
		t.Fatalf("restored %v, cordoned %v", rep.Restored, rep.Plan.Cordon)
	}
	requireRestored(ctx, t, pre)
	lockGone(ctx, t, ns)
	if e := recorded(t, rep.ID); e.Result != drill.Fail {
		t.Fatalf("history %+v", e)
	}
	// Nothing was evicted: the pods are as they were.
	after := snapshot(ctx, t, ns)
	for k, v := range before {
		if strings.HasPrefix(k, "pod/") && after[k] != v {
			t.Errorf("%s changed: %s -> %s", k, v, after[k])
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// internalError is a 500 answer saying msg, as a proxy in front of the API server gives it.
func internalError(req *http.Request, msg string) *http.Response {
	return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Request: req,
		Header: http.Header{"Content-Type": []string{"text/plain"}}, Body: io.NopCloser(strings.NewReader(msg)), ContentLength: int64(len(msg))}
}
