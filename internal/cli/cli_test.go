package cli

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/karpctl/karpctl/internal/discovery"
)

func TestExitCodes(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "x", errors.New(`User "u" cannot get resource "leases"`))
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{UsageError("bad"), ExitUsage},
		{Unhealthy("stale"), ExitUnhealthy},
		{fmt.Errorf("wrapped: %w", discovery.ErrNotFound), ExitUsage},
		{fmt.Errorf("reading lease: %w", forbidden), ExitAPI},
		{errors.New("connection refused"), ExitAPI},
	} {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	msg := Message(fmt.Errorf("reading lease: %w", forbidden))
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "RBAC") {
		t.Errorf("forbidden message %q", msg)
	}
	if got := Message(errors.New("a\nb  c")); got != "a b c" {
		t.Errorf("one line: %q", got)
	}
}

func TestParseLease(t *testing.T) {
	if ns, n, err := ParseLease("karpenter/karpenter-leader-election"); err != nil || ns != "karpenter" || n != "karpenter-leader-election" {
		t.Fatal(ns, n, err)
	}
	for _, bad := range []string{"x", "/x", "x/", "a/b/c"} {
		if _, _, err := ParseLease(bad); ExitCode(err) != ExitUsage {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestForContextKeepsEveryOtherFlag(t *testing.T) {
	g := NewGlobals()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	g.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", "/k", "--context", "one", "--as", "alice", "--request-timeout", "3s", "-n", "ns", "--karpenter-namespace", "karp"}); err != nil {
		t.Fatal(err)
	}
	c := g.ForContext("two")
	if *c.Kube.Context != "two" || *g.Kube.Context != "one" {
		t.Fatalf("context %q (original %q)", *c.Kube.Context, *g.Kube.Context)
	}
	if *c.Kube.KubeConfig != "/k" || *c.Kube.Impersonate != "alice" || *c.Kube.Timeout != "3s" || c.Namespace() != "ns" || c.Find.Namespace != "karp" {
		t.Fatalf("flags lost: %+v", c.Kube)
	}
	// Every exported field but Context is the same pointer as the original's.
	src, dst := reflect.ValueOf(g.Kube).Elem(), reflect.ValueOf(c.Kube).Elem()
	for i := range src.NumField() {
		f := src.Type().Field(i)
		if !f.IsExported() || f.Name == "Context" || f.Type.Kind() == reflect.Func {
			continue
		}
		if src.Field(i).Pointer() != dst.Field(i).Pointer() {
			t.Errorf("%s not carried over", f.Name)
		}
	}
}
