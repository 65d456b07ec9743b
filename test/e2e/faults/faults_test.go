// End-to-end tests of every read-only command through a failing API server: a fault-injecting proxy
// (harness.FaultProxy) between karpctl and a real kube-apiserver answers one request mid-way through
// each command with a 429, a 5xx, a reset connection, a truncated body, a stall past
// --request-timeout or an expired continue token. Each run gives the answer the command gives
// without the fault, or exits 1 with one line naming the request that failed; never a panic, a hang
// past its timeout or a partial answer presented as complete.
package faults

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

const ns = "karpenter"

var (
	sceneOnce sync.Once
	sceneErr  error
)

// scene: Karpenter's CRDs and a ready NodePool, two Karpenter replicas on nodes in two zones holding
// a fresh lease, and pending pods for plan.
func scene(ctx context.Context, t *testing.T) {
	t.Helper()
	harness.Need(t, env)
	sceneOnce.Do(func() {
		dyn, err := dynamic.NewForConfig(env.Config)
		if err != nil {
			sceneErr = err
			return
		}
		if sceneErr = sandbox.InstallCRDs(ctx, dyn); sceneErr != nil {
			return
		}
		if sceneErr = sandbox.CreateReadyNodePool(ctx, dyn, "default", 0); sceneErr != nil {
			return
		}
		b := harness.NewBuilder(env.Client)
		b.Node(ctx, t, harness.NodeSpec{Name: "system-a", Zone: "zone-a"})
		b.Node(ctx, t, harness.NodeSpec{Name: "system-b", Zone: "zone-b"})
		pods := b.Karpenter(ctx, t, harness.KarpenterSpec{Namespace: ns}, "system-a", "system-b")
		b.Namespace(ctx, t, "shop")
		for i := range 3 {
			b.Pod(ctx, t, harness.PodSpec{Namespace: "shop", Name: fmt.Sprintf("web-%d", i), CPU: "500m"})
		}
		// A lease renewed far in the future keeps its verdict the same for the whole test.
		id, dur := pods[0].Name+"_1", int32(15)
		renew := metav1.NewMicroTime(time.Now().Add(time.Hour))
		_, sceneErr = env.Client.CoordinationV1().Leases(ns).Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter-leader-election"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, RenewTime: &renew, AcquireTime: &renew},
		}, metav1.CreateOptions{})
	})
	if sceneErr != nil {
		t.Fatal(sceneErr)
	}
}

// Commands are the read-only commands of the matrix, with the flags that make them page (chunk size
// 1: an expired continue token can only hit a list that pages); top prints one screen.
var Commands = map[string][]string{
	"lease":          {"lease", "--karpenter-namespace", ns},
	"health":         {"health", "--karpenter-namespace", ns},
	"audit-topology": {"audit-topology", "--karpenter-namespace", ns},
	"plan":           {"plan", "--chunk-size", "1"},
	"disrupt":        {"disrupt", "--chunk-size", "1"},
	"instance-types": {"instance-types"},
	"explain":        {"explain", "pod", "web-0", "-n", "shop", "--chunk-size", "1"},
	"top":            {"top", "--once"},
}

// requestTimeout is every faulted run's --request-timeout: a stalled request must end the run within it.
const requestTimeout = 3 * time.Second

// TestEveryCommandThroughEveryFault runs each command without a fault, then through each fault hitting
// its middle request, and records the outcome for docs/reliability.md.
func TestEveryCommandThroughEveryFault(t *testing.T) {
	ctx := e2e.Context(t, 20*time.Minute)
	scene(ctx, t)
	proxy, err := env.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	for _, name := range sortedKeys(Commands) {
		args := append(Commands[name], "--request-timeout", requestTimeout.String())
		t.Run(name, func(t *testing.T) {
			proxy.Inject("", 0, 0)
			base := e2e.Karpctl(ctx, t, proxy.Kubeconfig, args...)
			requests := proxy.Requests()
			if base.Code == 1 || base.Code > 3 {
				t.Fatalf("without a fault: exit %d: %s", base.Code, base.Stderr)
			}
			for _, f := range harness.Faults {
				t.Run(string(f), func(t *testing.T) {
					at := max(1, (requests+1)/2)
					if f == harness.ExpiredContinue {
						at = 1
					}
					proxy.Inject(f, at, 1)
					start := time.Now()
					r := e2e.Karpctl(ctx, t, proxy.Kubeconfig, args...)
					took := time.Since(start)
					o := judge(base, r, proxy.Hits(), took)
					record(name, f, o)
					if !o.OK {
						t.Errorf("%s through %s: %s", name, f, o.Outcome)
					}
				})
			}
		})
	}
	writeTable(t)
}

// Outcome is one cell of the command × fault table.
type Outcome struct {
	OK      bool
	Outcome string
}

var volatile = regexp.MustCompile(`\d+(\.\d+)?(ms|s|m|h)\b|\d{4}-\d\d-\d\dT[\d:.]+Z?|\b\d+(\.\d+)?\b`)

// judge compares a faulted run r with the run without the fault.
func judge(base, r e2e.Result, hits []string, took time.Duration) Outcome {
	if len(hits) == 0 {
		return Outcome{OK: true, Outcome: "not hit (the command sent no such request)"}
	}
	if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") {
		return Outcome{Outcome: "panic: " + firstLine(r.Stderr)}
	}
	if limit := 2*requestTimeout + 20*time.Second; took > limit {
		return Outcome{Outcome: fmt.Sprintf("took %s (> %s)", took.Round(time.Millisecond), limit)}
	}
	switch {
	case r.Code == base.Code && volatile.ReplaceAllString(r.Stdout, "N") == volatile.ReplaceAllString(base.Stdout, "N"):
		return Outcome{OK: true, Outcome: "same answer"}
	case r.Code == 1:
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		var errs []string
		for _, l := range lines {
			if strings.HasPrefix(l, "error: ") {
				errs = append(errs, l)
			}
		}
		if len(errs) != 1 {
			return Outcome{Outcome: fmt.Sprintf("exit 1 with %d error lines: %q", len(errs), r.Stderr)}
		}
		if r.Stdout != "" && !strings.HasPrefix(r.Stdout, "Serving") {
			return Outcome{Outcome: fmt.Sprintf("exit 1 after printing an answer: %q", firstLine(r.Stdout))}
		}
		if !namesRequest(errs[0]) {
			return Outcome{Outcome: "exit 1 without naming the request: " + errs[0]}
		}
		return Outcome{OK: true, Outcome: "exit 1: " + errs[0]}
	}
	return Outcome{Outcome: fmt.Sprintf("exit %d (without the fault %d), answer differs: %q", r.Code, base.Code, firstLine(r.Stderr+r.Stdout))}
}

// namesRequest reports whether an error line says which read failed: what was read ("reading lease
// karpenter/x", "listing bound pods") or the request itself.
var requestNamed = regexp.MustCompile(`(?i)\b(reading|listing|getting|get|list|watch(ing)?)\b.*|https://`)

func namesRequest(line string) bool { return requestNamed.MatchString(line) }

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

var (
	tableMu sync.Mutex
	table   = map[string]map[harness.Fault]Outcome{}
)

func record(command string, f harness.Fault, o Outcome) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if table[command] == nil {
		table[command] = map[harness.Fault]Outcome{}
	}
	table[command][f] = o
}

// loopbackPort is the proxy's port in a message, which differs from run to run.
var loopbackPort = regexp.MustCompile(`127\.0\.0\.1:\d+`)

// writeTable renders the command × fault table (with the proxy's port as PORT, so that the table
// only changes when an outcome does).
func writeTable(t *testing.T) {
	tableMu.Lock()
	defer tableMu.Unlock()
	var b strings.Builder
	b.WriteString("| command | fault | outcome |\n|---|---|---|\n")
	for _, c := range sortedKeys(table) {
		for _, f := range harness.Faults {
			o, ok := table[c][f]
			if !ok {
				continue
			}
			mark := "✓"
			if !o.OK {
				mark = "✗"
			}
			out := loopbackPort.ReplaceAllString(strings.ReplaceAll(o.Outcome, "|", `\|`), "127.0.0.1:PORT")
			fmt.Fprintf(&b, "| %s | %s | %s %s |\n", c, f, mark, out)
		}
	}
	e2e.ReliabilitySection(t, "faults", b.String())
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
