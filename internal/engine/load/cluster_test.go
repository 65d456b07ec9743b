package load

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	clienttesting "k8s.io/client-go/testing"
)

func TestFromClusterReadsOnly(t *testing.T) {
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "a"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	bound := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "b"}, Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	done := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "b"}, Spec: corev1.PodSpec{NodeName: "n1"}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	kube := fake.NewClientset(pending, bound, done, node)

	np := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": "default"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"},
			"requirements": []any{},
		}}},
	}}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList",
	}, np)

	snap, err := FromCluster(context.Background(), kube, dyn, ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !snap.Live || len(snap.PendingPods) != 1 || len(snap.Pods) != 1 || len(snap.Nodes) != 1 || len(snap.NodePools) != 1 {
		t.Errorf("snapshot: live=%v pending=%d bound=%d nodes=%d nodepools=%d", snap.Live, len(snap.PendingPods), len(snap.Pods), len(snap.Nodes), len(snap.NodePools))
	}
	if snap.NodePools[0].Spec.Template.Spec.NodeClassRef.Kind != "KWOKNodeClass" {
		t.Errorf("NodePool not converted: %+v", snap.NodePools[0].Spec.Template.Spec)
	}
	for _, a := range append(kube.Actions(), dyn.Actions()...) {
		if a.GetVerb() != "list" {
			t.Errorf("FromCluster did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	var sawPendingSelector bool
	for _, a := range kube.Actions() {
		if la, ok := a.(clienttesting.ListAction); ok && la.GetListRestrictions().Fields.String() == "spec.nodeName=,status.phase=Pending" {
			sawPendingSelector = true
		}
	}
	if !sawPendingSelector {
		t.Error("pending pods were not listed with the spec.nodeName=,status.phase=Pending field selector")
	}

	kc, _, err := NewClients(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil || kc == nil {
		t.Fatalf("NewClients: %v", err)
	}
}

// FromCluster follows continue tokens page by page.
func TestFromClusterPaginates(t *testing.T) {
	kube := fake.NewClientset()
	var limits []int64
	kube.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		la := a.(clienttesting.ListActionImpl)
		if la.GetListRestrictions().Fields.String() != "spec.nodeName=,status.phase=Pending" {
			return true, &corev1.PodList{}, nil
		}
		limits = append(limits, la.ListOptions.Limit)
		page := &corev1.PodList{}
		start := 0
		if la.ListOptions.Continue == "page2" {
			start = 2
		} else {
			page.Continue = "page2"
		}
		for i := start; i < start+2; i++ {
			page.Items = append(page.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: string(rune('a' + i)), Namespace: "x"}, Status: corev1.PodStatus{Phase: corev1.PodPending}})
		}
		return true, page, nil
	})
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList",
	})
	snap, err := FromCluster(context.Background(), kube, dyn, ClusterOptions{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.PendingPods) != 4 || len(limits) != 2 || limits[0] != 2 {
		t.Errorf("pending %d over %d pages (limits %v), want 4 over 2 pages of 2", len(snap.PendingPods), len(limits), limits)
	}
}
