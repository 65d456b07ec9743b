package drill

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/test/e2e"
)

// The kube-apiserver freezes (SIGSTOP) right after leader-kill --mode hard deleted the leader, for
// three times the lease's 2 s duration. The drill's lease watch goes quiet and a read of the lease
// fails: the drill reports the API server silent, "unknown, not expired" — never the lease expired
// while it could not see it — then the API server answering again and the new leader, and the
// silence's length in its report.
func TestLeaderKillTellsAPISilenceFromADeadLeader(t *testing.T) {
	harness.Need(t, env)
	ctx := e2e.Context(t, 3*time.Minute)
	const ns = "lk-silence"
	karpenter(ctx, t, ns, 2, true, true)
	_, leader := holder(ctx, t, ns)
	report := filepath.Join(t.TempDir(), "r.json")
	done := make(chan e2e.Result, 1)
	go func() {
		done <- e2e.Karpctl(ctx, t, env.Kubeconfig, "drill", "leader-kill", "--yes", "--mode", "hard", "--karpenter-namespace", ns,
			"--retry-period", "250ms", "--timeout", "60s", "--request-timeout", "1s", "--report", report)
	}()
	err := harness.Poll(ctx, 20*time.Millisecond, "the leader "+leader+" to be deleted", func() (bool, error) {
		_, err := env.Client.CoreV1().Pods(ns).Get(ctx, leader, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	thaw, err := env.FreezeAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = thaw() }) // never leave the API server frozen, whatever fails below
	const freeze = 6 * time.Second
	frozen := time.Now()
	time.Sleep(freeze)
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	thawed := time.Now()
	r := <-done
	rep := readReport(t, report)
	t.Logf("exit %d, %s: %s; API silence %.1fs (frozen %s)\n%s", r.Code, rep.Result, rep.Reason, rep.APISilenceSeconds, thawed.Sub(frozen).Round(time.Millisecond), r.Stdout)
	requireKinds(t, rep, drill.EvDeleted, drill.EvAPISilent, drill.EvAPIResumed, drill.EvAcquired)
	if rep.APISilenceSeconds < 3 || rep.APISilenceSeconds > freeze.Seconds()+3 {
		t.Errorf("API silence %.1fs, want about the %s freeze", rep.APISilenceSeconds, freeze)
	}
	k := kinds(rep)
	silent, resumed := slices.Index(k, drill.EvAPISilent), slices.Index(k, drill.EvAPIResumed)
	if i := slices.Index(k, drill.EvExpired); i >= 0 && i < resumed {
		t.Errorf("the lease was reported expired while the API server was silent: %v", k)
	}
	if silent > resumed {
		t.Errorf("api-resumed before api-silent: %v", k)
	}
	if n := len(slices.DeleteFunc(slices.Clone(k), func(s string) bool { return s != drill.EvAPISilent })); n != 1 {
		t.Errorf("%d api-silent events, want one for one silence: %v", n, k)
	}
	// The failover missed its bound only because of the silence: the reason says so, and the report
	// explains that no follower could take the lease meanwhile.
	if rep.Result == drill.Fail && !strings.Contains(rep.Reason, "the API server was silent for") {
		t.Errorf("reason %q does not name the silence", rep.Reason)
	}
	if !strings.Contains(strings.Join(rep.Explanation, " "), "not Karpenter's election") {
		t.Errorf("explanation %q does not attribute the silence", rep.Explanation)
	}
	for _, e := range rep.Timeline {
		if e.Kind == drill.EvAPISilent && (!strings.Contains(e.Detail, "unknown, not expired") || !strings.Contains(e.Detail, leader)) {
			t.Errorf("api-silent says %q; want the old leader named and its renewal unknown", e.Detail)
		}
	}
	lockGone(context.Background(), t, ns)
}
