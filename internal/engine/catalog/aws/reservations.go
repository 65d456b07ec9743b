package aws

import (
	"context"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
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
