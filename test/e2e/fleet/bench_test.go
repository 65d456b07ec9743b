package fleet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/commands"
	"github.com/karpctl/karpctl/internal/harness"
)

// BenchmarkFleet: a fleet of 20 contexts (the two control planes under ten names each) against a
// fleet of one, per command, at the default --parallel and at 8 (three waves). Target: 20 contexts
// at the default in at most 2× the time of one. Figures are medians of 5 runs; ratio-20/1 is
// ms/20-contexts over ms/1-context.
//
// net=rtt50ms reaches the control planes through a loopback proxy adding 25 ms each way, as remote
// clusters answer: there a fleet costs mostly waiting, which is what fanning out overlaps. On
// net=loopback both control planes serve all 20 contexts from this machine's CPUs, so the ratio
// also measures ten times one apiserver's work, which 20 real clusters would do on their own.
func BenchmarkFleet(b *testing.B) {
	setup(b)
	for _, net := range []struct {
		name   string
		oneWay time.Duration
	}{{"rtt50ms", 25 * time.Millisecond}, {"loopback", 0}} {
		kc, first, all := fleetOf20(b, net.oneWay)
		for _, command := range []string{"lease", "health", "audit-topology", "version"} {
			for _, parallel := range []string{"default", "8"} {
				b.Run(fmt.Sprintf("net=%s/%s/parallel=%s", net.name, command, parallel), func(b *testing.B) {
					args := []string{command, "--contexts", all}
					if parallel != "default" {
						args = append(args, "--parallel", parallel)
					}
					for b.Loop() {
						single := median(b, kc, command, "--context", first)
						one := median(b, kc, command, "--contexts", first)
						twenty := median(b, kc, args...)
						b.ReportMetric(ms(single), "ms/single")
						b.ReportMetric(ms(one), "ms/1-context")
						b.ReportMetric(ms(twenty), "ms/20-contexts")
						b.ReportMetric(float64(twenty)/float64(one), "ratio-20/1")
					}
				})
			}
		}
	}
}

// fleetOf20 writes a kubeconfig with healthy-01..10 and stale-01..10, through latency proxies when
// oneWay > 0, and returns it, the first context and all of them as --contexts wants them.
func fleetOf20(b *testing.B, oneWay time.Duration) (kubeconfig, first, all string) {
	server := map[*harness.Env]string{}
	for _, e := range []*harness.Env{healthyEnv, staleEnv} {
		if oneWay == 0 {
			continue
		}
		p, err := harness.StartLatencyProxy(strings.TrimPrefix(e.Server(), "https://"), oneWay)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		server[e] = "https://" + p.Addr()
	}
	var ctxs []harness.KubeContext
	var names []string
	for i := 1; i <= 10; i++ {
		for prefix, e := range map[string]*harness.Env{"healthy": healthyEnv, "stale": staleEnv} {
			name := fmt.Sprintf("%s-%02d", prefix, i)
			ctxs, names = append(ctxs, harness.KubeContext{Name: name, Env: e, Server: server[e]}), append(names, name)
		}
	}
	slices.Sort(names)
	kubeconfig = filepath.Join(b.TempDir(), "kubeconfig-20")
	if err := harness.WriteKubeconfigContexts(kubeconfig, ctxs...); err != nil {
		b.Fatal(err)
	}
	return kubeconfig, names[0], strings.Join(names, ",")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median runs `kubectl karpctl ARGS -o json` in-process 5 times, quietly, and returns the median
// wall time.
func median(b *testing.B, kubeconfig string, args ...string) time.Duration {
	b.Helper()
	var times []time.Duration
	for range 5 {
		env := &commands.Env{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard}, Globals: cli.NewGlobals()}
		start := time.Now()
		code := commands.Run(context.Background(), env, "kubectl-karpctl", append(args, "--kubeconfig", kubeconfig, "--request-timeout", "10s", "-o", "json"))
		times = append(times, time.Since(start))
		if code != cli.ExitOK && code != cli.ExitUnhealthy {
			b.Fatalf("%v: exit %d", args, code)
		}
	}
	slices.Sort(times)
	return times[len(times)/2]
}
