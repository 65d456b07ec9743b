package aws

import (
	"context"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
)

// offlineReservations is the provider's capacityreservation.Provider for the reservations the
// EC2NodeClass's status lists. Their available instance count is not in the status; offline it is 0.
// The provider builds reserved offerings from the status itself.
type offlineReservations struct{}

func (offlineReservations) List(context.Context, ...awsv1.CapacityReservationSelectorTerm) ([]*ec2types.CapacityReservation, error) {
	return nil, nil
}
func (offlineReservations) GetAvailableInstanceCount(string) int  { return 0 }
func (offlineReservations) SetAvailableInstanceCount(string, int) {}
func (offlineReservations) MarkLaunched(string)                   {}
func (offlineReservations) MarkTerminated(string, string)         {}
