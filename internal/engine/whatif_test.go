package engine

import (
	"errors"
	"testing"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A --zone-down zone ID is mapped to the zone's name as the EC2NodeClasses' status.subnets and the
// nodes' labels have it, not by the IDs' order.
func TestZonesDownByZoneID(t *testing.T) {
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	nc.Status.Subnets = []awsv1.Subnet{
		{ID: "subnet-1", Zone: "us-east-1a", ZoneID: "use1-az4"},
		{ID: "subnet-2", Zone: "us-east-1b", ZoneID: "use1-az6"},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{
		corev1.LabelTopologyZone: "us-east-1c", zoneIDLabel: "use1-az1"}}}
	snap := &Snapshot{EC2NodeClasses: []*awsv1.EC2NodeClass{nc}, Nodes: []*corev1.Node{node}}
	known := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	for _, c := range []struct{ give, want string }{
		{"use1-az4", "us-east-1a"}, {"use1-az6", "us-east-1b"}, {"use1-az1", "us-east-1c"}, {"us-east-1b", "us-east-1b"},
	} {
		down, err := zonesDown([]string{c.give}, known, zoneNamesByID(snap))
		if err != nil || len(down) != 1 || !down[c.want] {
			t.Errorf("--zone-down %s: %v %v, want %s", c.give, down, err, c.want)
		}
	}
	if _, err := zonesDown([]string{"use1-az2"}, known, zoneNamesByID(snap)); !errors.Is(err, ErrUnknownZone) {
		t.Errorf("unmapped zone ID: %v", err)
	}
}
