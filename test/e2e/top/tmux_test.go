package top

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// top on a real terminal: the leader, NodePools and nodes; pending pods and the plan for them; a new
// leader; the keys; q exits 0 and gives the terminal back.
func TestTopTerminal(t *testing.T) {
	ctx := e2e.Context(t, 4*time.Minute)
	cluster(ctx, t)
	x := e2e.StartTmux(t, 80, 24, []string{"NO_COLOR=1", "TERM=xterm-256color"}, "top", "--kubeconfig", env.Kubeconfig, "--predict-interval", "1s")
	first := x.WaitFor(ctx, t, "leader "+leader, "lease Healthy", "top-a", "top-b", "top-a-1", "NEXT", "launch:")
	t.Logf("first screen:\n%s", first)
	if path := os.Getenv("TOP_SCREEN_CAPTURE"); path != "" {
		if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, line := range strings.Split(first, "\n") {
		if len([]rune(line)) > 80 {
			t.Errorf("line wider than 80 columns: %q", line)
		}
	}
	if esc := x.Screen(t, true); strings.Contains(esc, "\x1b[3") || strings.Contains(esc, "\x1b[9") {
		t.Errorf("NO_COLOR is set but the screen has colours:\n%q", esc)
	}

	// A Deployment-sized burst of pending pods: they show, and the plan's NodeClaims for them.
	for i := range 3 {
		p := harness.PodObject(harness.PodSpec{Namespace: "shop", Name: fmt.Sprintf("burst-%d", i), CPU: "3", Memory: "1Gi"})
		if _, err := env.Client.CoreV1().Pods("shop").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = env.Client.CoreV1().Pods("shop").Delete(context.Background(), p.Name, metav1.DeleteOptions{})
		})
	}
	burst := x.WaitFor(ctx, t, "Pending pods 4", "PENDING PODS", "shop/burst-0", "for 4 pending pods")
	t.Logf("the burst:\n%s", burst)
	// The newest of them, at the end of the list, under the cursor.
	x.Keys(t, "End")
	x.WaitFor(ctx, t, "▸ shop/burst-2")
	x.Keys(t, "Home")
	x.WaitFor(ctx, t, "▸ top-a-1")

	// A new leader takes the lease.
	l, err := env.Client.CoordinationV1().Leases("karpenter").Get(ctx, "karpenter-leader-election", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := env.Client.CoreV1().Pods("karpenter").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next := ""
	for _, p := range pods.Items {
		if p.Name != leader {
			next = p.Name
		}
	}
	// Other tests expect the first leader: give the lease back afterwards.
	t.Cleanup(func() {
		back, err := env.Client.CoordinationV1().Leases("karpenter").Get(context.Background(), l.Name, metav1.GetOptions{})
		if err == nil {
			now := metav1.NewMicroTime(time.Now())
			back.Spec.HolderIdentity, back.Spec.RenewTime = ptr.To(leader+"_0b8c"), &now
			_, err = env.Client.CoordinationV1().Leases("karpenter").Update(context.Background(), back, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Errorf("giving the lease back to %s: %v", leader, err)
		}
	})
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.AcquireTime, l.Spec.RenewTime = ptr.To(next+"_1f2e"), &now, &now
	l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	if _, err := env.Client.CoordinationV1().Leases("karpenter").Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	x.WaitFor(ctx, t, "leader "+next)

	x.Keys(t, "s")
	x.WaitFor(ctx, t, "sort: creation")
	x.Keys(t, "?")
	x.WaitFor(ctx, t, "this help")
	x.Keys(t, "Escape")
	// A key typed right after Escape would reach top with it as one Alt-key sequence, as in any
	// terminal program: wait for the screen first.
	x.WaitFor(ctx, t, "NODEPOOL", "sort: creation")
	x.Keys(t, "/", "t", "o", "p", "-", "b", "Enter")
	x.WaitFor(ctx, t, "filter: top-b")
	x.Keys(t, "q")
	end := x.WaitFor(ctx, t, "karpctl exited 0")
	if strings.Contains(end, "NODEPOOL") || strings.Contains(end, "NEXT") {
		t.Errorf("the terminal still shows top after q:\n%s", end)
	}
}
