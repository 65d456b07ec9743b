package commands

import (
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
)

// awsOverlayManifests: an on-demand (or spot) NodePool of two 2-vCPU types on an EC2NodeClass, and a
// NodeOverlay that makes the cheaper one, c5.large, half again as dear in Karpenter's view.
func awsOverlayManifests(capacityType string) map[string]string {
	return map[string]string{"aws.yaml": `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: web}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: web}
      requirements:
        - {key: karpenter.sh/capacity-type, operator: In, values: [` + capacityType + `]}
        - {key: node.kubernetes.io/instance-type, operator: In, values: [c5.large, m5.large]}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: web}
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
status:
  subnets:
    - {id: subnet-1, zone: us-east-1a, zoneID: use1-az1}
---
apiVersion: karpenter.sh/v1alpha1
kind: NodeOverlay
metadata: {name: dear-c5}
spec:
  requirements:
    - {key: node.kubernetes.io/instance-type, operator: In, values: [c5.large]}
  priceAdjustment: "+50%"
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: web}
spec:
  containers: [{name: c, image: api, resources: {requests: {cpu: 500m, memory: 1Gi}}}]
`}
}

// On AWS an overlay changes what launches, not only Karpenter's ranking: the provider applies the
// overlays again at Create and, with a price overlay, asks EC2 Fleet for prioritized on-demand
// capacity with the overlaid prices as priorities. So the dearer-made c5.large is not launched even
// though EC2 charges less for it; kwok, by contrast, launches its own cheapest.
func TestPlanAWSOverlayLaunchesKarpentersFirstChoice(t *testing.T) {
	dir := writeFiles(t, awsOverlayManifests("on-demand"))
	code, off, errOut := planJSON(t, "--offline", "-f", dir)
	if code != cli.ExitOK || len(off.NodePools) != 1 || len(off.NodePools[0].NodeClaims) != 1 {
		t.Fatalf("gate off: exit %d: %s", code, errOut)
	}
	plain := off.NodePools[0].NodeClaims[0]
	if plain.InstanceType != "c5.large" || plain.LaunchInstanceType != "" {
		t.Fatalf("gate off: %+v; want c5.large, EC2's cheapest, with no launch note", plain)
	}
	code, on, errOut := planJSON(t, "--offline", "-f", dir, "--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	if code != cli.ExitOK {
		t.Fatalf("gate on: exit %d: %s", code, errOut)
	}
	nc := on.NodePools[0].NodeClaims[0]
	if nc.InstanceType != "m5.large" || nc.LaunchInstanceType != "m5.large" || nc.LaunchPricePerHour != nc.PricePerHour || nc.PricePerHour <= plain.PricePerHour {
		t.Errorf("gate on: %+v; want m5.large ranked first and launched at its own price, above c5.large's %v", nc, plain.PricePerHour)
	}
	code, spot, errOut := planJSON(t, "--offline", "-f", writeFiles(t, awsOverlayManifests("spot")), "--karpenter-setting", "FEATURE_GATES=NodeOverlay=true")
	if code != cli.ExitOK || len(spot.NodePools[0].NodeClaims) != 1 {
		t.Fatalf("spot: exit %d: %s", code, errOut)
	}
	if s := spot.NodePools[0].NodeClaims[0]; s.CapacityType != "spot" || s.LaunchInstanceType != "" {
		t.Errorf("spot: %+v; want no single launch type (EC2 picks spot by capacity)", s)
	}
}
