package eks

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

const blockID = "cr-0123456789abcdef0"

// reservedScene creates, for the test's duration: EC2NodeClass "reserved" (Ready, subnets in
// eu-west-1a/b) whose status lists a capacity block of m5.large in eu-west-1a ending at end,
// NodePool "reserved" (reserved or on-demand m5.large), a pending pod for it in namespace "ml", and
// the cluster's Karpenter, running with the ReservedCapacity gate off.
func reservedScene(ctx context.Context, t *testing.T, end time.Time) {
	t.Helper()
	scene(ctx, t)
	if err := createEC2NodeClass(ctx, "reserved", "True", "eu-west-1a", "eu-west-1b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(sandbox.EC2NodeClassResource).Delete(context.Background(), "reserved", metav1.DeleteOptions{})
	})
	nc, err := dyn.Resource(sandbox.EC2NodeClassResource).Get(ctx, "reserved", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status, _ := nc.Object["status"].(map[string]any)
	status["capacityReservations"] = []any{map[string]any{
		"id": blockID, "instanceType": "m5.large", "availabilityZone": "eu-west-1a", "ownerID": "123456789012",
		"instanceMatchCriteria": "targeted", "reservationType": "capacity-block", "state": "active",
		"endTime": end.UTC().Format(time.RFC3339),
	}}
	if _, err := dyn.Resource(sandbox.EC2NodeClassResource).UpdateStatus(ctx, nc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := createNodePool(ctx, "reserved", map[string]any{"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "reserved"},
		[]any{req("karpenter.sh/capacity-type", "In", "reserved", "on-demand"), req("node.kubernetes.io/instance-type", "In", "m5.large")}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(sandbox.NodePoolResource).Delete(context.Background(), "reserved", metav1.DeleteOptions{})
	})
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, "ml")
	no := false
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "ml"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			NodeSelector:                 map[string]string{"karpenter.sh/nodepool": "reserved"},
			Containers: []corev1.Container{{Name: "train", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			}}},
		},
	}
	if _, err := env.Client.CoreV1().Pods("ml").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.CoreV1().Pods("ml").Delete(context.Background(), "train", metav1.DeleteOptions{})
	})
	b.Namespace(ctx, t, "karpenter")
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: "karpenter", Env: map[string]string{"FEATURE_GATES": "ReservedCapacity=false"}})
	if _, err := env.Client.AppsV1().Deployments("karpenter").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().Deployments("karpenter").Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	})
}

// reservedPlan plans namespace ml with the block's free count and args; it returns the one NodeClaim.
func reservedPlan(ctx context.Context, t *testing.T, args ...string) (engine.PlanReport, engine.NodeClaimPlan) {
	t.Helper()
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, append([]string{"plan", "-n", "ml", "--capacity-reservation", blockID + "=1", "-o", "json"}, args...)...)
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if r.Code != cli.ExitOK || rep.Result == nil {
		t.Fatalf("%v: exit %d %s:\n%s", args, r.Code, r.Stderr, r.Stdout)
	}
	r.OnlyReads(t)
	var claims []engine.NodeClaimPlan
	for _, np := range rep.NodePools {
		if len(np.NodeClaims) > 0 && np.Name != "reserved" {
			t.Errorf("%v: NodeClaims of NodePool %s", args, np.Name)
		}
		claims = append(claims, np.NodeClaims...)
	}
	if len(claims) != 1 {
		t.Fatalf("%v: %d NodeClaims, want one:\n%s", args, len(claims), r.Stdout)
	}
	return rep, claims[0]
}

// The capacity block of an EC2NodeClass's status, as the API server stores it: with the cluster's
// Karpenter running with ReservedCapacity off, the plan launches on-demand and warns that the
// reservation is ignored and how to turn it on; with the gate on, it launches into the block; a
// block 10 minutes from its end is expiring and is not launched into.
func TestPlanLiveCapacityBlock(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	reservedScene(ctx, t, time.Now().Add(3*time.Hour))

	rep, nc := reservedPlan(ctx, t)
	if nc.CapacityType != "on-demand" || nc.ReservationID != "" {
		t.Errorf("gate off: claim %s %s %s, want on-demand", nc.InstanceType, nc.CapacityType, nc.ReservationID)
	}
	ignored := "EC2NodeClass reserved: capacity reservations ignored (1: " + blockID + "): Karpenter runs with the ReservedCapacity feature gate off"
	found := false
	for _, w := range rep.Warnings {
		found = found || strings.Contains(w.Message, ignored) && strings.Contains(w.Message, "FEATURE_GATES=ReservedCapacity=true")
	}
	if !found {
		t.Errorf("gate off: no warning %q in %+v", ignored, rep.Warnings)
	}
	var gates string
	for _, s := range rep.KarpenterSettings.Settings {
		if s.Name == "FEATURE_GATES" {
			gates = s.Value + " from " + s.Source
		}
	}
	if gates != "ReservedCapacity=false from Deployment karpenter/karpenter env" {
		t.Errorf("FEATURE_GATES %q, want the Deployment's", gates)
	}

	on := []string{"--karpenter-setting", "FEATURE_GATES=ReservedCapacity=true"}
	rep, nc = reservedPlan(ctx, t, on...)
	if nc.CapacityType != "reserved" || nc.ReservationID != blockID || nc.Zone != "eu-west-1a" || nc.InstanceType != "m5.large" {
		t.Errorf("gate on: claim %s %s %s %s, want m5.large reserved in %s, eu-west-1a", nc.InstanceType, nc.CapacityType, nc.ReservationID, nc.Zone, blockID)
	}
	for _, w := range rep.Warnings {
		if strings.Contains(w.Message, blockID) {
			t.Errorf("gate on: warning %q", w.Message)
		}
	}

	// Ten minutes before its end the provider marks the block expiring; the stored status still says active.
	got, err := dyn.Resource(sandbox.EC2NodeClassResource).Get(ctx, "reserved", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crs := got.Object["status"].(map[string]any)["capacityReservations"].([]any)
	crs[0].(map[string]any)["endTime"] = time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339)
	if _, err := dyn.Resource(sandbox.EC2NodeClassResource).UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, nc = reservedPlan(ctx, t, on...); nc.CapacityType != "on-demand" {
		t.Errorf("block ending in 10 minutes: claim %s %s %s, want on-demand", nc.InstanceType, nc.CapacityType, nc.ReservationID)
	}
}
