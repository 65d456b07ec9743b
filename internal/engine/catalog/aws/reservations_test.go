package aws

import (
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
)

// reservedOfferings are the reserved offerings of instance type name.
func reservedOfferings(t *testing.T, nc *awsv1.EC2NodeClass, name string, free map[string]int) cloudprovider.Offerings {
	t.Helper()
	its, _, err := InstanceTypes(WithReservationsFree(testContext(), free), nc, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.Name == name {
			var out cloudprovider.Offerings
			for _, o := range it.Offerings {
				if o.CapacityType() == karpv1.CapacityTypeReserved {
					out = append(out, o)
				}
			}
			return out
		}
	}
	t.Fatalf("no instance type %s", name)
	return nil
}

// The provider's own expectations for a capacity block
// (karpenter-provider-aws v1.15.0 pkg/providers/instancetype/suite_test.go, Context "Capacity
// Blocks", "should create an offering for a capacity block"): exactly one reserved offering for the
// block's instance type, requiring karpenter.sh/capacity-type=reserved, the block's zone,
// karpenter.k8s.aws/capacity-reservation-type=capacity-block and its reservation ID, with the free
// count as its capacity; unavailable when the block is expiring. Beyond the status's state, a
// block whose end time is past or less than 40 minutes away is expiring, as the provider's
// nodeclass controller writes it (awsv1.CapacityReservationFromEC2), and an ODCR never expires so.
func TestCapacityBlockOffering(t *testing.T) {
	const id, zone, free = "cr-123", "us-east-1a", 1
	now := time.Now()
	for _, c := range []struct {
		name  string
		typ   awsv1.CapacityReservationType
		state awsv1.CapacityReservationState
		end   *time.Time
		want  bool
	}{
		{"active", awsv1.CapacityReservationTypeCapacityBlock, awsv1.CapacityReservationStateActive, nil, true},
		{"expiring", awsv1.CapacityReservationTypeCapacityBlock, awsv1.CapacityReservationStateExpiring, nil, false},
		{"ends in 3h", awsv1.CapacityReservationTypeCapacityBlock, awsv1.CapacityReservationStateActive, new(now.Add(3 * time.Hour)), true},
		{"ends in 10m, status still active", awsv1.CapacityReservationTypeCapacityBlock, awsv1.CapacityReservationStateActive, new(now.Add(10 * time.Minute)), false},
		{"ended, status still active", awsv1.CapacityReservationTypeCapacityBlock, awsv1.CapacityReservationStateActive, new(now.Add(-time.Hour)), false},
		{"ODCR ending in 10m", awsv1.CapacityReservationTypeDefault, awsv1.CapacityReservationStateActive, new(now.Add(10 * time.Minute)), true},
	} {
		nc := al2023(t)
		cr := awsv1.CapacityReservation{ID: id, InstanceType: "m5.large", AvailabilityZone: zone, OwnerID: "123456789012",
			InstanceMatchCriteria: "targeted", ReservationType: c.typ, State: c.state}
		if c.end != nil {
			cr.EndTime = &metav1.Time{Time: *c.end}
		}
		nc.Status.CapacityReservations = []awsv1.CapacityReservation{cr}
		offs := reservedOfferings(t, nc, "m5.large", map[string]int{id: free})
		if len(offs) != 1 {
			t.Errorf("%s: %d reserved offerings, want exactly one", c.name, len(offs))
			continue
		}
		o := offs[0]
		for key, want := range map[string]string{
			karpv1.CapacityTypeLabelKey:                 karpv1.CapacityTypeReserved,
			corev1.LabelTopologyZone:                    zone,
			awsv1.LabelCapacityReservationType:          string(c.typ),
			awsv1.LabelCapacityReservationID:            id,
			cloudprovider.ReservationIDLabel:            id,
			awsv1.LabelCapacityReservationInterruptible: "false",
		} {
			if !o.Requirements.Has(key) || o.Requirements.Get(key).Any() != want {
				t.Errorf("%s: offering requires %s=%q, want %q", c.name, key, o.Requirements.Get(key).Any(), want)
			}
		}
		if o.Available != c.want || o.ReservationCapacity != free {
			t.Errorf("%s: available %t with capacity %d, want %t with %d", c.name, o.Available, o.ReservationCapacity, c.want, free)
		}
	}
	// The status given is not changed.
	nc := al2023(t)
	nc.Status.CapacityReservations = []awsv1.CapacityReservation{{ID: id, InstanceType: "m5.large", AvailabilityZone: zone, OwnerID: "123456789012",
		InstanceMatchCriteria: "targeted", ReservationType: awsv1.CapacityReservationTypeCapacityBlock, State: awsv1.CapacityReservationStateActive,
		EndTime: &metav1.Time{Time: now.Add(-time.Hour)}}}
	reservedOfferings(t, nc, "m5.large", nil)
	if nc.Status.CapacityReservations[0].State != awsv1.CapacityReservationStateActive {
		t.Errorf("the caller's EC2NodeClass was changed: state %q", nc.Status.CapacityReservations[0].State)
	}
}
