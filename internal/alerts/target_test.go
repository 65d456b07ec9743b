package alerts

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/karpctl/karpctl/internal/discovery"
)

func karpenter(replicas int32) *discovery.Karpenter {
	return &discovery.Karpenter{
		Deployment: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)}},
		Namespace:  "kube-system", Name: "karpenter", LeaseNamespace: "kube-system", LeaseName: "karpenter-leader-election",
	}
}

func TestOffline(t *testing.T) {
	o, where := Offline(Options{}, "karpenter", "")
	if o.Namespace != "karpenter" || o.LeaseName != discovery.DefaultLeaseName || o.SwitchThreshold != 3 || o.LeaseDurationSource != "controller-runtime default" {
		t.Fatalf("%+v", o)
	}
	if where != "Karpenter in namespace karpenter (given, not read from a cluster)" {
		t.Fatalf("where %q", where)
	}
	if o, _ := Offline(Options{LeaseName: "flag"}, "karpenter", "from-lease"); o.LeaseName != "flag" {
		t.Fatalf("--lease-name lost to --lease: %q", o.LeaseName)
	}
	if o, _ := Offline(Options{}, "karpenter", "from-lease"); o.LeaseName != "from-lease" {
		t.Fatalf("lease %q, want the --lease name", o.LeaseName)
	}
}

// The lease's own duration replaces the default, and the switch threshold follows the replicas;
// each source of the duration is named for the header.
func TestForKarpenterReadsTheLease(t *testing.T) {
	ctx := context.Background()
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "karpenter-leader-election"},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To[int32](60)}}
	o, where, err := ForKarpenter(ctx, fake.NewClientset(l), karpenter(5), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.LeaseDuration != time.Minute || o.LeaseDurationSource != "leaseDurationSeconds of Lease kube-system/karpenter-leader-election" ||
		o.SwitchThreshold != 6 || o.Namespace != "kube-system" || o.Deployment != "karpenter" {
		t.Fatalf("%+v", o)
	}
	if where != "Karpenter kube-system/karpenter (5 replicas), lease kube-system/karpenter-leader-election" {
		t.Fatalf("where %q", where)
	}

	o, _, err = ForKarpenter(ctx, fake.NewClientset(), karpenter(2), Options{})
	if err != nil || o.LeaseDuration != DefaultLeaseDuration || o.LeaseDurationSource != "default: Lease kube-system/karpenter-leader-election does not exist yet" {
		t.Fatalf("no lease: %v %+v", err, o)
	}
	l.Spec.LeaseDurationSeconds = nil
	o, _, err = ForKarpenter(ctx, fake.NewClientset(l), karpenter(2), Options{})
	if err != nil || o.LeaseDurationSource != "default: Lease kube-system/karpenter-leader-election has no leaseDurationSeconds" {
		t.Fatalf("no duration: %v %+v", err, o)
	}

	// A given duration is kept and the lease is not read.
	c := fake.NewClientset(l)
	o, _, err = ForKarpenter(ctx, c, karpenter(2), Options{LeaseDuration: 30 * time.Second, LeaseDurationSource: "--lease-duration"})
	if err != nil || o.LeaseDuration != 30*time.Second || o.LeaseDurationSource != "--lease-duration" || len(c.Actions()) != 0 {
		t.Fatalf("%v %+v, %d requests", err, o, len(c.Actions()))
	}
}

func TestForKarpenterLeaseOnlyAndDisabled(t *testing.T) {
	k := karpenter(2)
	k.Deployment = nil
	_, where, err := ForKarpenter(context.Background(), fake.NewClientset(), k, Options{LeaseDuration: time.Minute})
	if err != nil || where != "the Karpenter of lease kube-system/karpenter-leader-election (no Deployment found)" {
		t.Fatalf("%v %q", err, where)
	}
	k.LeaderElectionDisabled = true
	if _, _, err := ForKarpenter(context.Background(), fake.NewClientset(), k, Options{}); !errors.Is(err, ErrLeaderElectionDisabled) {
		t.Fatalf("err %v, want ErrLeaderElectionDisabled", err)
	}
}
