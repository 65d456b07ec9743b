package drill

import (
	"context"
	"strings"
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

// interruptingClient is Kube over a fake clientset whose eviction is "Ctrl-C": it cancels the drill's
// context. Lists get a resourceVersion, which the retry watchers need (the fake tracker sets none).
type interruptingClient struct {
	Kube
	cancel context.CancelFunc
}

// Evict cancels, then gives the retry watchers time to close their channels, so that the drill's
// select finds the timeout and the closed watches ready at once.
func (c interruptingClient) Evict(context.Context, string, string) error {
	c.cancel()
	time.Sleep(20 * time.Millisecond)
	return nil
}

func (c interruptingClient) Pods(ctx context.Context, ns, selector string) (*corev1.PodList, error) {
	l, err := c.Kube.Pods(ctx, ns, selector)
	if l != nil {
		l.ResourceVersion = "1"
	}
	return l, err
}

func (c interruptingClient) Lease(ctx context.Context, ns, name string) (*coordinationv1.Lease, error) {
	l, err := c.Kube.Lease(ctx, ns, name)
	if l != nil {
		l.ResourceVersion = "1"
	}
	return l, err
}

// Ctrl-C after the action closes the watches and cancels the timeout as well; whichever the loop sees
// first, the report says "interrupted", never "the pod watch ended" or a timeout.
func TestRunInterruptedAfterTheAction(t *testing.T) {
	sel := map[string]string{"app.kubernetes.io/name": "karpenter"}
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: name, Labels: sel},
			Spec:   corev1.PodSpec{NodeName: "n-" + name},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
	}
	holder, now := "k-a_1", metav1.NewMicroTime(time.Now())
	secs := int32(15)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: discovery.DefaultLeaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &now, AcquireTime: &now, LeaseDurationSeconds: &secs}}
	k := &discovery.Karpenter{Namespace: "karpenter", Name: "karpenter", Deployment: &appsv1.Deployment{},
		PodSelector: labels.SelectorFromSet(sel), LeaseNamespace: "karpenter", LeaseName: discovery.DefaultLeaseName}
	for i := 0; i < 20; i++ { // the select's choice is random: give every wrong pick a chance
		ctx, cancel := context.WithCancel(context.Background())
		c := interruptingClient{Kube: Kube{C: fake.NewClientset(pod("k-a"), pod("k-b"), l)}, cancel: cancel}
		o := Options{Kind: LeaderKill, ID: "drill-test", Timeout: time.Minute}
		o.defaults()
		p := &Preflight{ID: o.ID, k: k, opts: o}
		p.Plan.Leader, p.Plan.Targets, p.Plan.Desired = "k-a", []string{"k-a"}, 2
		r := Run(ctx, c, p, nil)
		if r.Result != Fail || !strings.HasPrefix(r.Reason, "interrupted") || !containsKind(r.Timeline, EvInterrupted, "") {
			t.Fatalf("run %d: result %s, reason %q, timeline %+v", i, r.Result, r.Reason, r.Timeline)
		}
		if lock, err := c.Kube.Lease(context.Background(), "karpenter", LockName); lock != nil || err != nil {
			t.Fatalf("run %d: the drill lock is left behind (%v)", i, err)
		}
	}
}
