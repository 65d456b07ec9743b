package engine

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	scheduler "sigs.k8s.io/karpenter/pkg/controllers/provisioning/scheduling"
	"sigs.k8s.io/karpenter/pkg/scheduling"

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
// full, puts them on-demand. This is Karpenter's own expectation (sigs.k8s.io/karpenter v1.15.0
// pkg/controllers/provisioning/scheduling/suite_test.go, Describe "Reserved Instance Types",
// "shouldn't fallback to on-demand or spot when compatible reserved offerings are available"): the
// node is labelled karpenter.sh/capacity-type=reserved with the reservation's ID, and the pods the
// reservation cannot take are not bound in that loop.
func TestPlanPrefersReservationWithRoom(t *testing.T) {
	got, left := capacityOf(t, reservationSnapshot(3, awsv1.CapacityReservationTypeDefault, map[string]int{"cr-0123": 2}))
	if strings.Join(got, ",") != "reserved us-east-1a cr-0123,reserved us-east-1a cr-0123" ||
		len(left) != 1 || !strings.Contains(left[0], "could not be reserved") {
		t.Errorf("NodeClaims %q, left %q: want two into cr-0123 and one pod deferred", got, left)
	}
	for _, nc := range scheduled(t, reservationSnapshot(3, awsv1.CapacityReservationTypeDefault, map[string]int{"cr-0123": 2})).NewNodeClaims {
		wantReserved(t, nc, "cr-0123", awsv1.CapacityReservationTypeDefault)
	}
	// Nothing known free: on-demand at once, as Karpenter does with a full reservation.
	got, left = capacityOf(t, reservationSnapshot(2, awsv1.CapacityReservationTypeDefault, nil))
	if len(got) != 2 || len(left) != 0 || !strings.HasPrefix(got[0], "on-demand ") || !strings.HasPrefix(got[1], "on-demand ") {
		t.Errorf("with no free count: NodeClaims %q, left %q; want two on-demand", got, left)
	}
}

// scheduled runs Karpenter's scheduler over snap and returns its results, NodeClaims as Karpenter's
// provisioner creates them.
func scheduled(t *testing.T, snap *Snapshot) scheduler.Results {
	t.Helper()
	sim, err := newSimulation(context.Background(), snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := sim.provisioner.Schedule(sim.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantReserved checks a NodeClaim Karpenter would launch into reservation id: its requirements
// (what the NodeClaim and its node are labelled with) say karpenter.sh/capacity-type=reserved and
// the reservation ID, as Karpenter's FinalizeScheduling sets them, and every offering it may launch
// into is that reservation's, of its type (karpenter.k8s.aws/capacity-reservation-type).
func wantReserved(t *testing.T, nc *scheduler.NodeClaim, id string, typ awsv1.CapacityReservationType) {
	t.Helper()
	claim := nc.ToNodeClaim()
	reqs := scheduling.NewNodeSelectorRequirementsWithMinValues(claim.Spec.Requirements...)
	for key, want := range map[string]string{karpv1.CapacityTypeLabelKey: karpv1.CapacityTypeReserved, cloudprovider.ReservationIDLabel: id} {
		if got := reqs.Get(key); got.Len() != 1 || got.Any() != want {
			t.Errorf("NodeClaim requires %s %v, want %s", key, got.Values(), want)
		}
	}
	n := 0
	for _, it := range nc.InstanceTypeOptions {
		for _, o := range it.Offerings.Launchable().Compatible(reqs) {
			n++
			if o.ReservationID() != id || o.Requirements.Get(awsv1.LabelCapacityReservationType).Any() != string(typ) {
				t.Errorf("%s may launch into %s, type %q; want %s, %s", it.Name, o.ReservationID(), o.Requirements.Get(awsv1.LabelCapacityReservationType).Any(), id, typ)
			}
		}
	}
	if n == 0 {
		t.Errorf("NodeClaim has no offering to launch into (reservation %s)", id)
	}
}

// A capacity block is a reservation too: one free slot, one NodeClaim in it, labelled
// karpenter.k8s.aws/capacity-reservation-type=capacity-block. A block that is expiring (its status
// says so, or its end is past or under 40 minutes away) is not launched into: its offering is
// unavailable, so the pods go on-demand at once. The provider's own expectations for both
// (karpenter-provider-aws v1.15.0 pkg/providers/instancetype/suite_test.go, Context "Capacity
// Blocks") are checked on the offerings in package catalog/aws.
func TestPlanCapacityBlock(t *testing.T) {
	block := awsv1.CapacityReservationTypeCapacityBlock
	got, left := capacityOf(t, reservationSnapshot(2, block, map[string]int{"cr-0123": 1}))
	if strings.Join(got, ",") != "reserved us-east-1a cr-0123" || len(left) != 1 {
		t.Errorf("NodeClaims %q, left %q: want one in the capacity block, one pod deferred", got, left)
	}
	r := scheduled(t, reservationSnapshot(2, block, map[string]int{"cr-0123": 1}))
	if len(r.NewNodeClaims) != 1 {
		t.Fatalf("%d NodeClaims, want 1", len(r.NewNodeClaims))
	}
	wantReserved(t, r.NewNodeClaims[0], "cr-0123", block)

	for name, set := range map[string]func(*awsv1.CapacityReservation){
		"expiring":          func(cr *awsv1.CapacityReservation) { cr.State = awsv1.CapacityReservationStateExpiring },
		"ends in 10m":       func(cr *awsv1.CapacityReservation) { cr.EndTime = &metav1.Time{Time: time.Now().Add(10 * time.Minute)} },
		"ended an hour ago": func(cr *awsv1.CapacityReservation) { cr.EndTime = &metav1.Time{Time: time.Now().Add(-time.Hour)} },
	} {
		snap := reservationSnapshot(2, block, map[string]int{"cr-0123": 1})
		set(&snap.EC2NodeClasses[0].Status.CapacityReservations[0])
		got, left := capacityOf(t, snap)
		if len(got) != 2 || len(left) != 0 || !strings.HasPrefix(got[0], "on-demand ") || !strings.HasPrefix(got[1], "on-demand ") {
			t.Errorf("block %s: NodeClaims %q, left %q; want two on-demand", name, got, left)
		}
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
