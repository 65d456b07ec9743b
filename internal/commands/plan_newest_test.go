package commands

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/karpenter-provider-aws/pkg/providers/pricing"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// newestManifests is a NodePool for the newest generations (c/m/r, instance-generation Gt 7,
// on-demand, one architecture) and its EC2NodeClass with subnets in two zones of a region.
func newestManifests(arch, zoneA, idA, zoneB, idB string) string {
	return `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: newest}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: newest}
      requirements:
        - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r]}
        - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["7"]}
        - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
        - {key: kubernetes.io/arch, operator: In, values: [` + arch + `]}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: newest}
spec:
  role: KarpenterNodeRole
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
status:
  subnets:
    - {id: subnet-1, zone: ` + zoneA + `, zoneID: ` + idA + `}
    - {id: subnet-2, zone: ` + zoneB + `, zoneID: ` + idB + `}
`
}

// A NodePool for the newest generations plans, offline, the region's cheapest 8th-generation type
// that fits the pod, as Karpenter launches the cheapest on-demand offering: in us-east-1 at the
// price the AWS provider starts with, in eu-west-1 (where the newest families have no published
// price in the data) at an estimate the plan warns about.
func TestPlanNewestGenerations(t *testing.T) {
	for _, c := range []struct{ region, zoneA, idA, zoneB, idB, arch string }{
		{"us-east-1", "us-east-1a", "use1-az1", "us-east-1b", "use1-az2", "amd64"},
		{"us-east-1", "us-east-1a", "use1-az1", "us-east-1b", "use1-az2", "arm64"},
		{"eu-west-1", "eu-west-1a", "euw1-az1", "eu-west-1b", "euw1-az2", "amd64"},
		{"eu-west-1", "eu-west-1a", "euw1-az1", "eu-west-1b", "euw1-az2", "arm64"},
	} {
		t.Run(c.region+"/"+c.arch, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{
				"newest.yaml": newestManifests(c.arch, c.zoneA, c.idA, c.zoneB, c.idB),
				"web.yaml":    planDeployment("web", 1, "1"),
			})
			code, r, errOut := planJSON(t, "--offline", "-f", dir)
			if code != cli.ExitOK || r.Region != c.region || len(r.NodePools) != 1 || len(r.NodePools[0].NodeClaims) != 1 {
				t.Fatalf("exit %d %s: %+v", code, errOut, r.Result)
			}
			got := r.NodePools[0].NodeClaims[0]

			// The cheapest type the NodePool allows that fits the pod, from the listing.
			code, out, errOut := run(t, "kubectl-karpctl", "instance-types", "--offline", "-f", dir, "--nodepool", "newest", "--requests", "cpu=1", "-o", "json")
			var l engine.InstanceTypeList
			if code != cli.ExitOK || json.Unmarshal([]byte(out), &l) != nil {
				t.Fatalf("instance-types: exit %d %s", code, errOut)
			}
			var cheapest *engine.InstanceTypeInfo
			for i, it := range l.InstanceTypes {
				gen, _ := strconv.Atoi(it.Labels["karpenter.k8s.aws/instance-generation"])
				if gen < 8 || it.Labels["kubernetes.io/arch"] != c.arch || !strings.Contains("cmr", it.Labels["karpenter.k8s.aws/instance-category"]) {
					t.Errorf("%s is listed for the NodePool: generation %d, %s", it.Name, gen, it.Labels["kubernetes.io/arch"])
				}
				if it.Fits != nil && *it.Fits && it.Price > 0 && (cheapest == nil || it.Price < cheapest.Price) {
					cheapest = &l.InstanceTypes[i]
				}
			}
			if cheapest == nil {
				t.Fatalf("no 8th-generation type fits: %+v", l.Warnings)
			}
			if got.InstanceType != cheapest.Name || got.PricePerHour != cheapest.Price || got.CapacityType != "on-demand" {
				t.Errorf("plan launches %s at $%v (%s), want the cheapest fitting type %s at $%v", got.InstanceType, got.PricePerHour, got.CapacityType, cheapest.Name, cheapest.Price)
			}
			t.Logf("%s %s: %s at $%v/h", c.region, c.arch, got.InstanceType, got.PricePerHour)
			if c.region == "us-east-1" {
				if p, ok := pricing.InitialOnDemandPricesAWS["us-east-1"][ec2types.InstanceType(got.InstanceType)]; !ok || p != got.PricePerHour {
					t.Errorf("%s: $%v, the provider's us-east-1 price is $%v", got.InstanceType, got.PricePerHour, p)
				}
			} else if !warnedText(r.Warnings, "estimated from us-east-1") {
				t.Errorf("no warning that prices in %s are estimated: %+v", c.region, r.Warnings)
			}
		})
	}
}

func warnedText(ws []engine.Warning, text string) bool {
	for _, w := range ws {
		if strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}
