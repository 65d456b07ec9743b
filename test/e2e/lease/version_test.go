package lease

import (
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/versions"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// version names the server's version and the Karpenter image tag it finds.
func TestVersionAgainstCluster(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, time.Minute)
	setup(ctx, t, "versioned", harness.KarpenterSpec{Image: "public.ecr.aws/karpenter/controller:1.14.2@sha256:0123"})
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "version", "-o", "json", "--karpenter-namespace", "versioned")
	var v versions.Info
	r.Decode(t, &v)
	if r.Code != 0 {
		t.Fatalf("exit %d %q", r.Code, r.Stdout)
	}
	if v.Server != "v1.36.3" || v.KarpenterVersion != "1.14.2" || v.KarpenterNamespace != "versioned" || v.Error != "" {
		t.Fatalf("%+v", v)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "version", "--karpenter-namespace", "versioned")
	if !strings.Contains(r.Stdout, "Server:") || !strings.Contains(r.Stdout, "1.14.2") {
		t.Fatalf("%s", r.Stdout)
	}
}
