package discovery

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func deployment(ns string, env map[string]string, image string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": "karpenter"}
	var ev []corev1.EnvVar
	for k, v := range env {
		ev = append(ev, corev1.EnvVar{Name: k, Value: v})
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "sidecar", Image: "busybox"},
				{Name: "controller", Image: image, Env: ev},
			}}},
		},
	}
}

func TestFromDeploymentDefaults(t *testing.T) {
	k := FromDeployment(deployment("karpenter", nil, "public.ecr.aws/karpenter/controller:1.15.0@sha256:abc"))
	if k.LeaseName != DefaultLeaseName || k.LeaseNamespace != "karpenter" || k.LeaderElectionDisabled || !k.WarmupDisabled {
		t.Fatalf("%+v", k)
	}
	if k.Container != "controller" || k.Version != "1.15.0" || k.PodSelector.String() != "app.kubernetes.io/name=karpenter" {
		t.Fatalf("%+v", k)
	}
}

func TestFromDeploymentEnv(t *testing.T) {
	k := FromDeployment(deployment("kube-system", map[string]string{
		"LEADER_ELECTION_NAME": "custom", "LEADER_ELECTION_NAMESPACE": "leases",
		"DISABLE_LEADER_ELECTION": "true", "DISABLE_CONTROLLER_WARMUP": "false",
	}, "karpenter:v1"))
	if k.LeaseName != "custom" || k.LeaseNamespace != "leases" || !k.LeaderElectionDisabled || k.WarmupDisabled {
		t.Fatalf("%+v", k)
	}
}

func TestImageTag(t *testing.T) {
	for in, want := range map[string]string{
		"public.ecr.aws/karpenter/controller:1.15.0":            "1.15.0",
		"localhost:5000/karpenter":                              "",
		"localhost:5000/karpenter:v2@sha256:0123":               "v2",
		"controller@sha256:0123":                                "",
		"registry.k8s.io/karpenter/controller:1.15.0-rc.1":      "1.15.0-rc.1",
		"123456789012.dkr.ecr.us-west-2.amazonaws.com/k:1.14.2": "1.14.2",
	} {
		if got := ImageTag(in); got != want {
			t.Errorf("ImageTag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(deployment("karpenter", nil, "k:1"))
	k, err := Find(ctx, c, Options{})
	if err != nil || k.Namespace != "karpenter" {
		t.Fatalf("%v %+v", err, k)
	}
	k, err = Find(ctx, c, Options{Lease: "other/l"})
	if err != nil || k.LeaseNamespace != "other" || k.LeaseName != "l" || k.Deployment == nil {
		t.Fatalf("--lease override: %v %+v", err, k)
	}

	_, err = Find(ctx, fake.NewClientset(), Options{Namespace: "x"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "in namespace x") || !strings.Contains(err.Error(), "--karpenter-namespace") {
		t.Fatalf("none: %v", err)
	}
	k, err = Find(ctx, fake.NewClientset(), Options{Lease: "ns/name"})
	if err != nil || k.Deployment != nil || k.LeaseNamespace != "ns" {
		t.Fatalf("lease only: %v %+v", err, k)
	}

	two := fake.NewClientset(deployment("a", nil, "k:1"), deployment("b", nil, "k:1"))
	_, err = Find(ctx, two, Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "a/karpenter, b/karpenter") {
		t.Fatalf("two: %v", err)
	}
	k, err = Find(ctx, two, Options{Lease: "b/karpenter-leader-election"})
	if err != nil || k.Namespace != "b" {
		t.Fatalf("two with --lease: %v %+v", err, k)
	}
	if _, err := Find(ctx, c, Options{Selector: "a in (("}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad selector: %v", err)
	}
}

func TestDesiredReplicas(t *testing.T) {
	d := deployment("karpenter", nil, "k:1")
	if got := DesiredReplicas(d); got != 1 {
		t.Fatalf("unset: %d, want 1", got)
	}
	for _, n := range []int32{0, 3} {
		d.Spec.Replicas = &n
		if got := DesiredReplicas(d); got != n {
			t.Fatalf("replicas %d: got %d", n, got)
		}
	}
}

func TestPodLive(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want bool
	}{
		{"running", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, true},
		{"pending", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, true},
		{"no phase", corev1.Pod{}, true},
		{"succeeded", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		{"failed", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, false},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
	} {
		if got := PodLive(&tc.pod); got != tc.want {
			t.Errorf("%s: PodLive = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestUnschedulable(t *testing.T) {
	cond := func(typ corev1.PodConditionType, st corev1.ConditionStatus, reason string) corev1.PodCondition {
		return corev1.PodCondition{Type: typ, Status: st, Reason: reason, Message: "0/3 nodes are available"}
	}
	for _, tc := range []struct {
		name  string
		conds []corev1.PodCondition
		want  bool
	}{
		{"unschedulable", []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionFalse, ""), cond(corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonUnschedulable)}, true},
		{"scheduled", []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue, "")}, false},
		{"gated", []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionFalse, corev1.PodReasonSchedulingGated)}, false},
		{"no conditions", nil, false},
	} {
		p := &corev1.Pod{Status: corev1.PodStatus{Conditions: tc.conds}}
		c := Unschedulable(p)
		if (c != nil) != tc.want || (c != nil && c.Message != "0/3 nodes are available") {
			t.Errorf("%s: Unschedulable = %+v, want found=%t", tc.name, c, tc.want)
		}
	}
}
