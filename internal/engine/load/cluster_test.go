package load

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
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
		nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList", overlaysGVR: "NodeOverlayList",
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
		nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList", overlaysGVR: "NodeOverlayList",
	})
	snap, err := FromCluster(context.Background(), kube, dyn, ClusterOptions{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.PendingPods) != 4 || len(limits) != 2 || limits[0] != 2 {
		t.Errorf("pending %d over %d pages (limits %v), want 4 over 2 pages of 2", len(snap.PendingPods), len(limits), limits)
	}
}

// A continue token that expires mid-way (410) is answered as client-go's pager does: the list is read
// again in one request, and nothing of the expired pages is kept twice.
func TestFromClusterRereadsAnExpiredList(t *testing.T) {
	kube := fake.NewClientset()
	var calls []string
	kube.PrependReactor("list", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
		la := a.(clienttesting.ListActionImpl)
		if la.GetListRestrictions().Fields.String() != "spec.nodeName=,status.phase=Pending" {
			return true, &corev1.PodList{}, nil
		}
		calls = append(calls, fmt.Sprintf("limit=%d continue=%s", la.ListOptions.Limit, la.ListOptions.Continue))
		switch {
		case la.ListOptions.Continue == "page2":
			return true, nil, apierrors.NewResourceExpired("the provided continue parameter is too old")
		case la.ListOptions.Limit > 0:
			return true, &corev1.PodList{ListMeta: metav1.ListMeta{Continue: "page2"}, Items: []corev1.Pod{pendingPod("a")}}, nil
		default:
			return true, &corev1.PodList{Items: []corev1.Pod{pendingPod("a"), pendingPod("b"), pendingPod("c")}}, nil
		}
	})
	snap, err := FromCluster(context.Background(), kube, emptyKarpenter(), ClusterOptions{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.PendingPods) != 3 || strings.Join(calls, "; ") != "limit=1 continue=; limit=1 continue=page2; limit=0 continue=" {
		t.Errorf("pending %d after %q; want 3 after a first page, the expired second and one full list", len(snap.PendingPods), calls)
	}
}

// Kinds the plan can do without degrade to a warning when forbidden or not served; required ones, and
// volumes a pending pod needs, fail with the server's message, which names the permission.
func TestFromClusterDegradesOnForbiddenKinds(t *testing.T) {
	forbid := func(kube *fake.Clientset, resource string) {
		kube.PrependReactor("list", resource, func(a clienttesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: a.GetResource().Group, Resource: resource}, "", errors.New(`User "ci" cannot list resource`))
		})
	}
	kube := fake.NewClientset()
	forbid(kube, "daemonsets")
	forbid(kube, "storageclasses")
	snap, err := FromCluster(context.Background(), kube, emptyKarpenter(), ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, w := range snap.Warnings {
		msgs = append(msgs, w.Message)
	}
	got := strings.Join(msgs, "\n")
	for _, want := range []string{
		"daemonsets.apps not read (forbidden: grant list on daemonsets.apps at cluster scope): the plan leaves out DaemonSet overhead",
		"storageclasses.storage.k8s.io not read (forbidden: grant list on storageclasses.storage.k8s.io at cluster scope)",
		"nodeclaims.karpenter.sh not read (not served by this cluster)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}

	withPVC := pendingPod("db")
	withPVC.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	kube = fake.NewClientset(&withPVC)
	forbid(kube, "storageclasses")
	if _, err := FromCluster(context.Background(), kube, emptyKarpenter(), ClusterOptions{}); err == nil ||
		!strings.Contains(err.Error(), "pending pod x/db mounts a PersistentVolumeClaim, but listing storageclasses.storage.k8s.io failed") || !apierrors.IsForbidden(err) {
		t.Errorf("a pending pod's volumes unreadable: %v", err)
	}

	kube = fake.NewClientset()
	forbid(kube, "nodes")
	if _, err := FromCluster(context.Background(), kube, emptyKarpenter(), ClusterOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "listing nodes") {
		t.Errorf("forbidden nodes: %v, want the forbidden error", err)
	}
}

func pendingPod(name string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "x"}, Status: corev1.PodStatus{Phase: corev1.PodPending}}
}

// emptyKarpenter serves NodePools but not NodeClaims.
func emptyKarpenter() *dynfake.FakeDynamicClient {
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList", overlaysGVR: "NodeOverlayList",
	})
	dyn.PrependReactor("list", "nodeclaims", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "karpenter.sh", Resource: "nodeclaims"}, "")
	})
	return dyn
}
