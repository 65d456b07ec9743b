package commands

import (
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
)

// An EC2NodeClass whose status lists a capacity reservation, and a NodePool that may use reserved
// capacity: --capacity-reservation says how many instances it has free, and the plan launches into it.
const reservedManifests = `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: gpu}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [reserved, on-demand]}
        - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: gpu}
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
status:
  subnets:
    - {id: subnet-1, zone: us-east-1a, zoneID: use1-az1}
    - {id: subnet-2, zone: us-east-1b, zoneID: use1-az2}
  capacityReservations:
    - {id: cr-0123456789abcdef0, instanceType: m5.large, availabilityZone: us-east-1a, ownerID: "123456789012", instanceMatchCriteria: targeted, reservationType: default, state: active}
---
apiVersion: v1
kind: Pod
metadata: {name: train, namespace: ml}
spec:
  containers: [{name: c, image: train, resources: {requests: {cpu: 1500m, memory: 1Gi}}}]
`

func TestPlanCapacityReservation(t *testing.T) {
	dir := writeFiles(t, map[string]string{"r.yaml": reservedManifests})
	code, out, errOut := run(t, "kubectl-karpctl", "plan", "--dry-run", "--offline", "-f", dir, "--capacity-reservation", "cr-0123456789abcdef0=1")
	if code != cli.ExitOK || !strings.Contains(lineOf(out, "gpu "), "reserved (cr-0123456789abcdef0)") {
		t.Errorf("exit %d %s\n%s", code, errOut, out)
	}
	code, out, _ = run(t, "kubectl-karpctl", "plan", "--dry-run", "--offline", "-f", dir)
	if code != cli.ExitOK || !strings.Contains(lineOf(out, "gpu "), "on-demand") || !strings.Contains(out, "give --capacity-reservation ID=FREE") {
		t.Errorf("without the free count: exit %d\n%s", code, out)
	}
	// Karpenter's ReservedCapacity gate off: the reservation is ignored with a warning naming the
	// EC2NodeClass, how many reservations it lists and the setting that turns them on, in the text
	// and in -o json; the free count given changes nothing.
	off := []string{"plan", "--dry-run", "--offline", "-f", dir, "--capacity-reservation", "cr-0123456789abcdef0=1", "--karpenter-setting", "FEATURE_GATES=ReservedCapacity=false"}
	want := "EC2NodeClass gpu: capacity reservations ignored (1: cr-0123456789abcdef0): Karpenter runs with the ReservedCapacity feature gate off"
	code, out, errOut = run(t, "kubectl-karpctl", off...)
	if code != cli.ExitOK || !strings.Contains(lineOf(out, "gpu "), "on-demand") || !strings.Contains(out, want) ||
		!strings.Contains(out, "FEATURE_GATES=ReservedCapacity=true") || strings.Contains(out, "give --capacity-reservation") {
		t.Errorf("gate off: exit %d %s\n%s", code, errOut, out)
	}
	code, out, _ = run(t, "kubectl-karpctl", append(off, "-o", "json")...)
	if code != cli.ExitOK || !strings.Contains(out, want) || strings.Contains(out, `"capacityType": "reserved"`) {
		t.Errorf("gate off, -o json: exit %d\n%s", code, out)
	}
	for _, bad := range []string{"cr-0123", "i-0123=1", "cr-0123=-1", "cr-0123=two"} {
		code, _, errOut := run(t, "kubectl-karpctl", "plan", "--dry-run", "--offline", "-f", dir, "--capacity-reservation", bad)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--capacity-reservation") {
			t.Errorf("%s: exit %d %q", bad, code, errOut)
		}
	}
}
