package aws

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"k8s.io/utils/clock"
)

// offlineReservations is the provider's capacityreservation.Provider for the reservations the
// EC2NodeClass's status lists. The provider builds reserved offerings from the status itself; how
// many instances each still has free is EC2's to say (DescribeCapacityReservations) and in no
// Kubernetes object, so it comes from the caller (WithReservationsFree), and is 0 where unknown.
type offlineReservations struct{ free map[string]int }

type reservationsKey struct{}

// WithReservationsFree gives InstanceTypes the free instance count of capacity reservations by ID.
func WithReservationsFree(ctx context.Context, free map[string]int) context.Context {
	return context.WithValue(ctx, reservationsKey{}, free)
}

func reservationsFree(ctx context.Context) map[string]int {
	m, _ := ctx.Value(reservationsKey{}).(map[string]int)
	return m
}

func (offlineReservations) List(context.Context, ...awsv1.CapacityReservationSelectorTerm) ([]*ec2types.CapacityReservation, error) {
	return nil, nil
}
func (r offlineReservations) GetAvailableInstanceCount(id string) int { return r.free[id] }
func (offlineReservations) SetAvailableInstanceCount(string, int)     {}
func (offlineReservations) MarkLaunched(string)                       {}
func (offlineReservations) MarkTerminated(string, string)             {}

// refreshReservationStates sets the state of each capacity reservation in the EC2NodeClass's status
// as the provider's nodeclass controller writes it, every minute, with
// awsv1.CapacityReservationFromEC2: a capacity block within 40 minutes of its end time (or past
// it) is expiring, and the provider's offering for it is unavailable. A status read some time
// before the plan may still say active; one that says expiring stays so, as time only moves on. A
// reservation the provider would not parse keeps its state.
func refreshReservationStates(nc *awsv1.EC2NodeClass, clk clock.Clock) {
	for i, cr := range nc.Status.CapacityReservations {
		in := &ec2types.CapacityReservation{
			AvailabilityZone:      aws.String(cr.AvailabilityZone),
			CapacityReservationId: aws.String(cr.ID),
			InstanceMatchCriteria: ec2types.InstanceMatchCriteria(cr.InstanceMatchCriteria),
			InstanceType:          aws.String(cr.InstanceType),
			OwnerId:               aws.String(cr.OwnerID),
			ReservationType:       ec2types.CapacityReservationType(cr.ReservationType),
			Interruptible:         aws.Bool(cr.Interruptible),
		}
		if cr.EndTime != nil {
			in.EndDate = aws.Time(cr.EndTime.Time)
		}
		if got, err := awsv1.CapacityReservationFromEC2(clk, in); err == nil && got.State == awsv1.CapacityReservationStateExpiring {
			nc.Status.CapacityReservations[i].State = got.State
		}
	}
}
