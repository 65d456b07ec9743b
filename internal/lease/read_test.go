package lease

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/karpctl/karpctl/internal/discovery"
)

// With only --lease (no Deployment, no selector) ReadPods fetches the holder's pod by name and must
// return it: it is the pod the status was evaluated with.
func TestReadPodsLeaseOnlyReturnsHolderPod(t *testing.T) {
	l := leaseWith("kp-a_u1", time.Second, 15)
	l.Namespace, l.Name = "karpenter", "karpenter-leader-election"
	holder, other := pod("kp-a", "node-a", false), pod("kp-b", "node-b", false)
	holder.Namespace, other.Namespace = "karpenter", "karpenter"
	c := fake.NewClientset(l, &holder, &other, nodes()["node-a"])
	k := &discovery.Karpenter{Namespace: "karpenter", LeaseNamespace: "karpenter", LeaseName: "karpenter-leader-election"}

	st, pods, err := ReadPods(context.Background(), c, k, func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	if st.Verdict != Healthy || st.Holder == nil || st.Holder.Pod != "kp-a" || st.Holder.Zone != "zone-a" {
		t.Fatalf("status %+v holder %+v", st, st.Holder)
	}
	if len(pods) != 1 || pods[0].Name != "kp-a" {
		t.Fatalf("pods %v, want the holder kp-a", names(pods))
	}

	// The holder's pod is gone: nothing is returned, the lease is Orphaned.
	c = fake.NewClientset(l, &other)
	st, pods, err = ReadPods(context.Background(), c, k, func() time.Time { return t0 })
	if err != nil || st.Verdict != Orphaned || len(pods) != 0 {
		t.Fatalf("%v %s %v", err, st.Verdict, names(pods))
	}
}

// With a Deployment, ReadPods returns the pods listed by its selector, as before.
func TestReadPodsWithDeploymentReturnsListedPods(t *testing.T) {
	l := leaseWith("kp-a_u1", time.Second, 15)
	l.Namespace, l.Name = "karpenter", "karpenter-leader-election"
	lbl := map[string]string{"app.kubernetes.io/name": "karpenter"}
	a, b, stranger := pod("kp-b", "node-b", false), pod("kp-a", "node-a", false), pod("other", "node-a", false)
	for _, p := range []*corev1.Pod{&a, &b, &stranger} {
		p.Namespace = "karpenter"
	}
	a.Labels, b.Labels = lbl, lbl
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: lbl}}}
	c := fake.NewClientset(l, &a, &b, &stranger)
	st, pods, err := ReadPods(context.Background(), c, discovery.FromDeployment(d), func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	if got := names(pods); len(got) != 2 || got[0] != "kp-a" || got[1] != "kp-b" {
		t.Fatalf("pods %v", got)
	}
	if st.Verdict != Healthy || st.Replicas != 1 || len(st.Candidates) != 2 {
		t.Fatalf("%+v", st)
	}
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
