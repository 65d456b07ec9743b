package load

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

func TestScaleLive(t *testing.T) {
	labels := map[string]string{"app": "web"}
	three := int32(3)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}}},
	}
	kube := fake.NewClientset(dep)
	pod := func(name, node string, age time.Duration) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: labels,
			CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age))}, Spec: corev1.PodSpec{NodeName: node}}
	}
	snapshot := func() *engine.Snapshot {
		return &engine.Snapshot{
			PendingPods: []*corev1.Pod{pod("web-p", "", 0)},
			Pods:        []*corev1.Pod{pod("web-old", "n1", time.Hour), pod("web-new", "n1", time.Minute), {ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "shop"}}},
		}
	}
	ctx := context.Background()

	up := snapshot()
	if err := ScaleLive(ctx, kube, up, []ScaleTarget{{Kind: "Deployment", Namespace: "shop", Name: "web", Replicas: 5}}); err != nil {
		t.Fatal(err)
	}
	if len(up.PendingPods) != 3 || up.PendingPods[1].Name != "web-scale-0" || up.PendingPods[1].Labels["app"] != "web" || up.PendingPods[1].UID == "" {
		t.Errorf("scale up: %d pending, %+v", len(up.PendingPods), up.PendingPods)
	}
	if p := up.PendingPods[1]; p.UID != "5ece6a92-d6e3-0152-03a1-ce444d589ab7" || p.OwnerReferences[0].Kind != "ReplicaSet" ||
		p.OwnerReferences[0].UID != "c9bef405-febe-27bc-b225-30fa308c1117" || p.Status.Phase != corev1.PodPending ||
		!p.CreationTimestamp.Equal(&metav1.Time{Time: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}) {
		t.Errorf("scale up: replica identity %+v", p.ObjectMeta)
	}

	down := snapshot()
	if err := ScaleLive(ctx, kube, down, []ScaleTarget{{Kind: "Deployment", Namespace: "shop", Name: "web", Replicas: 1}}); err != nil {
		t.Fatal(err)
	}
	if len(down.PendingPods) != 0 || len(down.Pods) != 2 || down.Pods[0].Name != "web-old" || down.Pods[1].Name != "other" {
		t.Errorf("scale down: pending %d, bound %v", len(down.PendingPods), down.Pods)
	}

	var nf *ScaleNotFoundError
	if err := ScaleLive(ctx, kube, snapshot(), []ScaleTarget{{Kind: "StatefulSet", Namespace: "shop", Name: "web", Replicas: 1}}); !errors.As(err, &nf) {
		t.Errorf("missing workload: %v", err)
	}
}

func TestMerge(t *testing.T) {
	named := func(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	dst := &engine.Snapshot{Live: true,
		PendingPods: []*corev1.Pod{{ObjectMeta: named("a", "p1")}, {ObjectMeta: named("a", "p2")}},
		NodePools:   []*karpv1.NodePool{{ObjectMeta: named("", "default")}, {ObjectMeta: named("", "gpu")}}}
	Merge(dst, &engine.Snapshot{
		PendingPods: []*corev1.Pod{{ObjectMeta: named("a", "p2")}, {ObjectMeta: named("b", "p2")}},
		Nodes:       []*corev1.Node{{ObjectMeta: named("", "n")}},
		NodePools:   []*karpv1.NodePool{{ObjectMeta: named("", "default"), Spec: karpv1.NodePoolSpec{Weight: ptr.To(int32(7))}}},
	})
	if !dst.Live || len(dst.PendingPods) != 3 || len(dst.Nodes) != 1 || len(dst.NodePools) != 2 {
		t.Fatalf("merged: %d pending, %d nodes, %d NodePools", len(dst.PendingPods), len(dst.Nodes), len(dst.NodePools))
	}
	if dst.NodePools[1].Name != "default" || dst.NodePools[1].Spec.Weight == nil {
		t.Errorf("the file's NodePool default did not replace the cluster's: %+v", dst.NodePools)
	}
}

func TestParseScale(t *testing.T) {
	for in, want := range map[string]ScaleTarget{
		// no KIND/: a Deployment live (Validate), any scalable kind offline
		"web=3":             {Namespace: "default", Name: "web", Replicas: 3},
		"deployment/web=3":  {Kind: "Deployment", Namespace: "default", Name: "web", Replicas: 3},
		"sts/db=0":          {Kind: "StatefulSet", Namespace: "default", Name: "db", Replicas: 0},
		"ReplicaSet/rs-1=2": {Kind: "ReplicaSet", Namespace: "default", Name: "rs-1", Replicas: 2},
	} {
		got, err := parseScale(in, "default")
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"web", "web=-1", "web=x", "=3", "job/x=1", "a/b/c=1"} {
		if _, err := parseScale(bad, ""); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// Live, a target without KIND/ is the Deployment of that name; in files, any workload of that name.
func TestParseScaleOncePerWorkload(t *testing.T) {
	got, err := ParseScale([]string{"web=5", "statefulset/web=3"}, "", true)
	if err != nil || len(got) != 2 || got[0] != (ScaleTarget{Kind: "Deployment", Namespace: "default", Name: "web", Replicas: 5}) {
		t.Errorf("live: %+v %v", got, err)
	}
	_, err = ParseScale([]string{"web=5", "statefulset/web=3"}, "", false)
	if want := `"statefulset/web=3": web is already scaled by --scale "web=5"; give each workload one --scale`; err == nil || err.Error() != want {
		t.Errorf("files: %v, want %s", err, want)
	}
}
