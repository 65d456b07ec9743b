package fleet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/test/e2e"
)

// A context whose API server accepts connections but never answers (every request stalled by
// harness.FaultProxy) fails within its --request-timeout, and delays none of the 19 healthy
// contexts read beside it at the default --parallel.
func TestHangingContextDelaysNoOther(t *testing.T) {
	setup(t)
	ctx := e2e.Context(t, 2*time.Minute)
	proxy, err := healthyEnv.StartFaultProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.Inject(harness.Stalled, 1, 1<<30)
	const timeout = 3 * time.Second
	ctxs := []harness.KubeContext{{Name: "hanging", Env: healthyEnv, Server: proxyServer(t, proxy)}}
	var names []string
	for i := 1; i <= 19; i++ {
		ctxs = append(ctxs, harness.KubeContext{Name: fmt.Sprintf("healthy-%02d", i), Env: healthyEnv})
	}
	for _, c := range ctxs {
		names = append(names, c.Name)
	}
	kc := t.TempDir() + "/kubeconfig"
	if err := harness.WriteKubeconfigContexts(kc, ctxs...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := e2e.Karpctl(ctx, t, kc, "lease", "--karpenter-namespace", ns, "--contexts", strings.Join(names, ","), "--request-timeout", timeout.String(), "-o", "json")
	took := time.Since(start)
	var outs []fleet.Outcome[lease.Status]
	r.Decode(t, &outs)
	if r.Code != cli.ExitAPI || len(outs) != 20 {
		t.Fatalf("exit %d, %d outcomes", r.Code, len(outs))
	}
	for _, o := range outs {
		switch {
		case o.Context == "hanging" && (o.Error == "" || o.Duration.Duration() > timeout+2*time.Second):
			t.Errorf("hanging: %+v, want an error within --request-timeout %s", o, timeout)
		case o.Context != "hanging" && (o.Error != "" || o.Duration.Duration() >= timeout):
			t.Errorf("%s: %s, error %q: delayed by the hanging context", o.Context, o.Duration.Duration(), o.Error)
		}
	}
	if took > timeout+10*time.Second {
		t.Errorf("20 contexts with one hanging took %s", took)
	}
	t.Logf("20 contexts, one hanging: %s in all", took.Round(time.Millisecond))
}

// proxyServer is the server the proxy's kubeconfig names.
func proxyServer(t *testing.T, p *harness.FaultProxy) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(p.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfg.Clusters {
		return c.Server
	}
	t.Fatal("no cluster in the proxy's kubeconfig")
	return ""
}
