package e2e

import (
	"context"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"

	"github.com/karpctl/karpctl/internal/harness"
)

// Replica starts a simulated Karpenter replica (hack/replica-sim) against env; it is killed (no
// release) when the test ends, if it has not stopped before.
func Replica(t testing.TB, env *harness.Env, s harness.ReplicaSpec) *harness.Process {
	t.Helper()
	p, err := env.StartReplica(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// WaitLeaseHolder waits until the Lease ns/name (discovery.DefaultLeaseName when empty) has a holder —
// pod's (identity pod+"_…") when pod is not empty — and returns it; the test fails when ctx ends first.
func WaitLeaseHolder(ctx context.Context, t testing.TB, env *harness.Env, ns, name, pod string) *coordinationv1.Lease {
	t.Helper()
	l, err := env.WaitLeaseHolder(ctx, ns, name, pod)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
