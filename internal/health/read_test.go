package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
)

// `health --lease NS/NAME` with no Karpenter Deployment: the holder's pod, found by name, is judged
// (leader OK, its restarts), and the followers, which cannot be listed, are SKIPPED.
func TestReadLeaseOnlyJudgesHolderPod(t *testing.T) {
	now := time.Now()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("k-a_1"), LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime: &metav1.MicroTime{Time: now.Add(-time.Second)}}}
	holder := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "k-a"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	c := fake.NewClientset(l, holder)
	k, err := discovery.Find(context.Background(), c, discovery.Options{Lease: "karpenter/karpenter-leader-election"})
	if err != nil || k.Deployment != nil {
		t.Fatalf("%v %+v", err, k)
	}
	r, err := Read(context.Background(), c, k, ReadOptions{NoMetrics: true}, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		t.Logf("%-8s %-22s %s", c.Status, c.Name, c.Message)
	}
	if c := find(t, r, "leader"); c.Status != OK || !strings.Contains(c.Message, "k-a holds karpenter/karpenter-leader-election") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "followers"); c.Status != Skipped || !strings.Contains(c.Message, "only --lease") {
		t.Fatalf("%+v", c)
	}
	if c := find(t, r, "restarts/k-a"); c.Status != OK {
		t.Fatalf("%+v", c)
	}
	if r.Verdict != OK {
		t.Fatalf("verdict %s", r.Verdict)
	}
}

// A lease read that runs out of time is "API server unreachable", not a lease verdict: no report.
func TestReadLeaseTimeoutIsUnreachable(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("Get \"https://127.0.0.1/apis/coordination.k8s.io/v1/namespaces/karpenter/leases/x\": %w", context.DeadlineExceeded)
	})
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "x"}
	r, err := Read(context.Background(), c, k, ReadOptions{NoMetrics: true, APITimeout: 2 * time.Second}, time.Now)
	// The read's 2s had not run out: the request's own timeout had.
	if err == nil || !strings.HasPrefix(err.Error(), "API server unreachable: no answer within --request-timeout") || len(r.Checks) != 0 {
		t.Fatalf("err %v, report %+v", err, r)
	}
	expired, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	<-expired.Done()
	if err := Unreachable(expired, expired.Err(), 2*time.Second); !strings.HasPrefix(err.Error(), "API server unreachable: no answer within 2s") {
		t.Fatalf("the read's own deadline: %v", err)
	}
	if other := Unreachable(context.Background(), errors.New("forbidden"), time.Second); other.Error() != "forbidden" {
		t.Fatalf("a non-timeout error was rewritten: %v", other)
	}
}
