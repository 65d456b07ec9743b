package lease

import (
	"context"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/karpctl/karpctl/internal/discovery"
)

// The cache answers what Read answers, with no request per answer, and follows the pods to the
// nodes they move to.
func TestCacheAnswersAsReadWithoutRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id, dur := "karpenter-a_1", int32(15)
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: name, Labels: map[string]string{"app": "karpenter"}},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	node := func(name, zone string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{ZoneLabel: zone}}}
	}
	c := fake.NewClientset(
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-leader-election"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, RenewTime: &metav1.MicroTime{Time: now.Add(-time.Second)}}},
		pod("karpenter-a", "node-a"), pod("karpenter-b", "node-b"), node("node-a", "zone-a"), node("node-b", "zone-b"), node("node-c", "zone-c"))
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "karpenter-leader-election",
		Deployment: &appsv1.Deployment{}, PodSelector: labels.SelectorFromSet(labels.Set{"app": "karpenter"})}

	ch := NewCache(ctx, c, k)
	wctx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if err := ch.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	want, err := Read(ctx, c, k, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	c.ClearActions()
	for range 100 {
		got, err := ch.Status(now)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cache %+v\nread  %+v", got, want)
		}
	}
	if a := c.Actions(); len(a) != 0 {
		t.Fatalf("100 answers from the cache sent %d requests: %v", len(a), a)
	}

	// The follower moves to node-c: its zone follows once the new node's informer has listed it.
	if _, err := c.CoreV1().Pods("karpenter").Update(ctx, pod("karpenter-b", "node-c"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := ch.Status(now)
		if err == nil && len(st.Candidates) == 2 && st.Candidates[1].Zone == "zone-c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache never followed the pod to node-c: %+v %v", st.Candidates, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With only --lease (no Deployment), the cache follows the holder's pod by name, as Read does.
func TestCacheFollowsTheHolderWithOnlyALease(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id, dur := "karpenter-a_1", int32(15)
	c := fake.NewClientset(
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "lead"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: &dur, RenewTime: &metav1.MicroTime{Time: now.Add(-time.Second)}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-a"}, Spec: corev1.PodSpec{NodeName: "node-a"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{ZoneLabel: "zone-a"}}})
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "lead"}
	ch := NewCache(ctx, c, k)
	wctx, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if err := ch.WaitForSync(wctx); err != nil {
		t.Fatal(err)
	}
	want, err := Read(ctx, c, k, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	got, err := ch.Status(now)
	if err != nil || !reflect.DeepEqual(got, want) || got.Holder == nil || got.Holder.Zone != "zone-a" {
		t.Fatalf("cache %+v (%v)\nread  %+v", got, err, want)
	}
}
