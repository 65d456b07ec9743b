package engine

import (
	"context"
	"sort"
	"strings"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// reservationSnapshot: a NodePool of m5.large that allows reserved and on-demand capacity, its
// EC2NodeClass in us-east-1 (zones a and b) with one reservation of m5.large in us-east-1a, and n
// pods of which each needs an m5.large of its own.
func reservationSnapshot(n int, rt awsv1.CapacityReservationType, free map[string]int) *Snapshot {
	np := nodePool("reserved",
		req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, karpv1.CapacityTypeReserved, karpv1.CapacityTypeOnDemand),
		req(corev1.LabelInstanceTypeStable, corev1.NodeSelectorOpIn, "m5.large"))
	np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: "default"}
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	nc.Status.Subnets = []awsv1.Subnet{{ID: "subnet-a", Zone: "us-east-1a", ZoneID: "use1-az1"}, {ID: "subnet-b", Zone: "us-east-1b", ZoneID: "use1-az2"}}
	nc.Status.CapacityReservations = []awsv1.CapacityReservation{{ID: "cr-0123", InstanceType: "m5.large", AvailabilityZone: "us-east-1a",
		OwnerID: "123456789012", InstanceMatchCriteria: "targeted", ReservationType: rt, State: awsv1.CapacityReservationStateActive}}
	return &Snapshot{NodePools: []*karpv1.NodePool{np}, EC2NodeClasses: []*awsv1.EC2NodeClass{nc},
		PendingPods: pods(n, "app", "1500m", "1Gi"), CapacityReservationsFree: free}
}

// capacityOf lists each new NodeClaim's capacity type, zone and reservation, sorted, and the reasons
// pods were left unscheduled.
func capacityOf(t *testing.T, snap *Snapshot) (got, left []string) {
	t.Helper()
	r, err := Plan(context.Background(), snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, np := range r.NodePools {
		for _, nc := range np.NodeClaims {
			got = append(got, nc.CapacityType+" "+nc.Zone+" "+nc.ReservationID)
		}
	}
	for _, u := range r.Unschedulable {
		for range u.Pods {
			left = append(left, u.Reason)
		}
	}
	sort.Strings(got)
	return got, left
}

// Karpenter prefers a reservation with room over on-demand and launches into it no more instances
// than it has free. In the same scheduling loop it does not fall back for the pods left over: it
// defers them (Karpenter's "could not be reserved"), and its next loop, with the reservation then
// full, puts them on-demand.
func TestPlanPrefersReservationWithRoom(t *testing.T) {
	got, left := capacityOf(t, reservationSnapshot(3, awsv1.CapacityReservationTypeDefault, map[string]int{"cr-0123": 2}))
	if strings.Join(got, ",") != "reserved us-east-1a cr-0123,reserved us-east-1a cr-0123" ||
		len(left) != 1 || !strings.Contains(left[0], "could not be reserved") {
		t.Errorf("NodeClaims %q, left %q: want two into cr-0123 and one pod deferred", got, left)
	}
	// Nothing known free: on-demand at once, as Karpenter does with a full reservation.
	got, left = capacityOf(t, reservationSnapshot(2, awsv1.CapacityReservationTypeDefault, nil))
	if len(got) != 2 || len(left) != 0 || !strings.HasPrefix(got[0], "on-demand ") || !strings.HasPrefix(got[1], "on-demand ") {
		t.Errorf("with no free count: NodeClaims %q, left %q; want two on-demand", got, left)
	}
}

// A capacity block is a reservation too: one free slot, one NodeClaim in it.
func TestPlanCapacityBlock(t *testing.T) {
	got, left := capacityOf(t, reservationSnapshot(2, awsv1.CapacityReservationTypeCapacityBlock, map[string]int{"cr-0123": 1}))
	if strings.Join(got, ",") != "reserved us-east-1a cr-0123" || len(left) != 1 {
		t.Errorf("NodeClaims %q, left %q: want one in the capacity block, one pod deferred", got, left)
	}
}

// With the ReservedCapacity gate off (Karpenter's default is on) the provider's
// ReservedCapacityResolver adds no reserved offering and Karpenter's scheduler reserves none: the
// reservation is ignored, and a warning names the EC2NodeClass, its reservations and the setting.
func TestPlanReservationsGateOff(t *testing.T) {
	if !karpenter.Defaults().Options().FeatureGates.ReservedCapacity {
		t.Fatal("Karpenter's ReservedCapacity gate is off by default: this test assumes it on")
	}
	snap := reservationSnapshot(2, awsv1.CapacityReservationTypeDefault, map[string]int{"cr-0123": 2})
	s, err := karpenter.Resolve(context.Background(), karpenter.Input{Overrides: []string{"FEATURE_GATES=ReservedCapacity=false"}})
	if err != nil {
		t.Fatal(err)
	}
	snap.Karpenter = s
	got, left := capacityOf(t, snap)
	if len(got) != 2 || len(left) != 0 || !strings.HasPrefix(got[0], "on-demand ") || !strings.HasPrefix(got[1], "on-demand ") {
		t.Errorf("gate off: NodeClaims %q, left %q; want two on-demand", got, left)
	}
	r, err := Plan(context.Background(), snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, w := range r.Warnings {
		if strings.Contains(w.Message, "EC2NodeClass default: capacity reservations ignored (1: cr-0123)") &&
			strings.Contains(w.Message, "ReservedCapacity feature gate off") && strings.Contains(w.Message, "FEATURE_GATES=ReservedCapacity=true") {
			found++
		}
		if strings.Contains(w.Message, "--capacity-reservation") && !strings.Contains(w.Message, "ignored") {
			t.Errorf("gate off, yet a warning about the free count: %q", w.Message)
		}
	}
	if found != 1 {
		t.Errorf("gate off: %d warnings that the reservation is ignored, want 1: %+v", found, r.Warnings)
	}
	// Gate on (the default): no such warning.
	snap.Karpenter = nil
	if r, err = Plan(context.Background(), snap, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range r.Warnings {
		if strings.Contains(w.Message, "ignored") {
			t.Errorf("gate on: %q", w.Message)
		}
	}
}
