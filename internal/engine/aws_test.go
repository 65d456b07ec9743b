package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	"github.com/awslabs/operatorpkg/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"

	"github.com/karpctl/karpctl/internal/engine/catalog"
)

// fakeModel stands for the AWS model in engine tests: kwok's catalog offered in the EC2NodeClass's
// subnets' zones, on-demand at the kwok price × the region's factor, spot at half that. It records
// what it was asked.
type fakeModel struct {
	t       testing.TB
	asked   []*awsv1.EC2NodeClass
	regions []string
}

var fakeFactor = map[string]float64{"eu-west-1": 1.1, "us-east-1": 1}

func (m *fakeModel) Regions() []string { return []string{"eu-west-1", "us-east-1"} }
func (m *fakeModel) Data() AWSData {
	return AWSData{Generated: time.Date(2026, 7, 20, 0, 0, 0, 0, time.UTC), SpotEstimated: true}
}
func (m *fakeModel) InstanceTypes(_ context.Context, nc *awsv1.EC2NodeClass, region string) ([]*cloudprovider.InstanceType, []string, error) {
	m.asked = append(m.asked, nc)
	m.regions = append(m.regions, region)
	var warnings []string
	if len(nc.Status.Subnets) == 0 { // as the model does
		nc = nc.DeepCopy()
		for _, z := range []string{"a", "b", "c"} {
			nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{Zone: region + z})
		}
		warnings = append(warnings, "no subnets: every zone of "+region)
	}
	cat := kwok(m.t)
	for i := range cat.InstanceTypes {
		it := &cat.InstanceTypes[i]
		base := it.Offerings[0].Price
		it.Offerings = nil
		for _, sn := range nc.Status.Subnets {
			it.Offerings = append(it.Offerings,
				catalog.Offering{Zone: sn.Zone, CapacityType: "on-demand", Price: base * fakeFactor[region], Available: true},
				catalog.Offering{Zone: sn.Zone, CapacityType: "spot", Price: base * fakeFactor[region] / 2, Available: true})
		}
	}
	return cat.KarpenterInstanceTypes(), warnings, nil
}

func ec2NodePool(name, nodeClass string, reqs ...karpv1.NodeSelectorRequirementWithMinValues) *karpv1.NodePool {
	np := nodePool(name, reqs...)
	np.Spec.Template.Spec.NodeClassRef = &karpv1.NodeClassReference{Group: "karpenter.k8s.aws", Kind: "EC2NodeClass", Name: nodeClass}
	return np
}

func ec2NodeClass(name string, ready metav1.ConditionStatus, zones ...string) *awsv1.EC2NodeClass {
	nc := &awsv1.EC2NodeClass{ObjectMeta: metav1.ObjectMeta{Name: name}}
	nc.Spec.AMISelectorTerms = []awsv1.AMISelectorTerm{{Alias: "al2023@latest"}}
	for i, z := range zones {
		nc.Status.Subnets = append(nc.Status.Subnets, awsv1.Subnet{ID: "subnet-" + z, Zone: z, ZoneID: "z" + string(rune('1'+i))})
	}
	if ready != "" {
		nc.Status.Conditions = []status.Condition{{Type: status.ConditionReady, Status: ready, Reason: "SubnetsNotFound", Message: "no subnets matched"}}
	}
	return nc
}

func awsPlan(t *testing.T, snap *Snapshot, region string, opts Options) (*Result, *fakeModel, error) {
	t.Helper()
	m := &fakeModel{t: t}
	opts.InstanceTypes = ByNodeClass{CatalogSource(kwok(t), false), NewAWSSource(m, snap, region)}
	res, err := Plan(context.Background(), snap, opts)
	return res, m, err
}

// The EKS-style NodePool is planned with the AWS model for its EC2NodeClass: NodeClaims only in the
// subnets' zones, the region from those zones, prices of that region; a KWOKNodeClass NodePool in the
// same snapshot keeps kwok's catalog.
func TestPlanEC2NodeClassFollowsItsNodeClass(t *testing.T) {
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{
			ec2NodePool("eks", "default", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand")),
			nodePool("kwok", req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand")),
		},
		EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("default", metav1.ConditionTrue, "eu-west-1a", "eu-west-1b")},
		PendingPods: append(pods(2, "aws", "1", "1Gi", withNodeSelector(karpv1.NodePoolLabelKey, "eks")),
			pods(1, "kwok", "1", "1Gi", withNodeSelector(karpv1.NodePoolLabelKey, "kwok"))...),
	}
	res, m, err := awsPlan(t, snap, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Region != "eu-west-1" || res.AWSData == nil || res.Catalog != "aws, kwok" {
		t.Errorf("region %q, awsData %v, catalog %q", res.Region, res.AWSData, res.Catalog)
	}
	if len(m.asked) != 1 || m.asked[0].Name != "default" || m.regions[0] != "eu-west-1" {
		t.Errorf("model asked %d times, regions %v", len(m.asked), m.regions)
	}
	for _, np := range res.NodePools {
		for _, nc := range np.NodeClaims {
			switch np.Name {
			case "eks":
				// eu-west-1's price: the kwok price × 1.1
				if strings.Join(nc.Zones, ",") != "eu-west-1a,eu-west-1b" || !near(nc.PricePerHour, 1.1*kwokPrice(t, nc.InstanceType)) || np.Catalog != "aws" || np.NodeClass != "EC2NodeClass/default" {
					t.Errorf("eks claim %+v (catalog %s)", nc, np.Catalog)
				}
			case "kwok":
				if !strings.HasPrefix(nc.Zone, "test-zone-") || np.Catalog != "kwok" {
					t.Errorf("kwok claim %+v", nc)
				}
			}
		}
	}
	if res.Totals.PodsOnNewNodes != 3 {
		t.Errorf("totals %+v, unschedulable %+v", res.Totals, res.Unschedulable)
	}

	// --zone-down of a subnet's zone leaves the other one; a kwok zone is known too.
	res, _, err = awsPlan(t, snap, "", Options{ZonesDown: []string{"eu-west-1a", "test-zone-a"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range allClaims(res) {
		if strings.Contains(strings.Join(c.Zones, ","), "eu-west-1a") || c.Zone == "test-zone-a" {
			t.Errorf("claim in a zone that is down: %+v", c)
		}
	}
	if _, _, err = awsPlan(t, snap, "", Options{ZonesDown: []string{"eu-west-1c"}}); !errors.Is(err, ErrUnknownZone) {
		t.Errorf("zone without a subnet: %v, want ErrUnknownZone", err)
	}
}

func TestPlanEC2NodeClassReadiness(t *testing.T) {
	np := func(name, nc string) *karpv1.NodePool { return ec2NodePool(name, nc) }
	snap := &Snapshot{
		Live:      true,
		NodePools: []*karpv1.NodePool{np("missing", "gone"), np("broken", "broken"), np("unknown", "fresh"), np("ok", "ok")},
		EC2NodeClasses: []*awsv1.EC2NodeClass{
			ec2NodeClass("broken", metav1.ConditionFalse, "us-east-1a"),
			ec2NodeClass("fresh", "", "us-east-1a"),
			ec2NodeClass("ok", metav1.ConditionTrue, "us-east-1a"),
		},
		PendingPods: pods(1, "p", "1", "1Gi"),
	}
	res, _, err := awsPlan(t, snap, "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ pool, text string }{
		{"missing", "EC2NodeClass gone: NodeClassReady=False, NodeClassNotFound: NodeClass not found on cluster"},
		{"broken", "NodeClassReady=False, SubnetsNotFound: no subnets matched"},
		{"unknown", "NodeClassReadinessUnknown: Node Class Readiness Unknown"},
	} {
		if !hasWarning(res, w.pool, w.text) {
			t.Errorf("no warning %q for %s: %+v", w.text, w.pool, res.Warnings)
		}
	}
	if len(res.NodePools) != 1 || res.NodePools[0].Name != "ok" || res.Region != "us-east-1" {
		t.Errorf("planned %+v in %q, want only ok in us-east-1", res.NodePools, res.Region)
	}
}

// Offline, an EC2NodeClass without status is planned in every zone of --region, with a warning; a
// region is needed then, and must be known.
func TestPlanEC2NodeClassOfflineWithoutStatus(t *testing.T) {
	snap := &Snapshot{
		NodePools:      []*karpv1.NodePool{ec2NodePool("eks", "default")},
		EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("default", "")},
		PendingPods:    pods(1, "p", "1", "1Gi"),
	}
	if _, _, err := awsPlan(t, snap, "", Options{}); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "give --region (known: eu-west-1, us-east-1)") {
		t.Errorf("no region: %v", err)
	}
	if _, _, err := awsPlan(t, snap, "mars-1", Options{}); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), `unknown region "mars-1" (known: eu-west-1, us-east-1)`) {
		t.Errorf("unknown region: %v", err)
	}
	res, _, err := awsPlan(t, snap, "us-east-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !hasWarning(res, "", "no subnets: every zone of us-east-1") {
		t.Errorf("warnings %+v", res.Warnings)
	}
	if c := allClaims(res); len(c) != 1 || len(c[0].Zones) != 3 {
		t.Errorf("claims %+v", c)
	}
	if snap.EC2NodeClasses[0].Status.Subnets != nil {
		t.Error("Plan modified the snapshot's EC2NodeClass")
	}
}

func TestAWSRegion(t *testing.T) {
	m := &fakeModel{t: t}
	node := func(region string) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{corev1.LabelTopologyRegion: region}}}
	}
	for _, c := range []struct {
		name, flag, want, err string
		snap                  *Snapshot
	}{
		{name: "nodes", want: "us-east-1", snap: &Snapshot{Nodes: []*corev1.Node{node("us-east-1"), node("test-region")},
			EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("a", "", "eu-west-1a")}}},
		{name: "subnets", want: "eu-west-1", snap: &Snapshot{Nodes: []*corev1.Node{node("test-region")},
			EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("a", "", "eu-west-1a", "eu-west-1b")}}},
		{name: "local zone", want: "us-east-1", snap: &Snapshot{EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("a", "", "us-east-1-bos-1a", "us-east-1-wl1-bos-wlz-1")}}},
		{name: "flag", flag: "eu-west-1", want: "eu-west-1", snap: &Snapshot{}},
		{name: "flag agrees", flag: "eu-west-1", want: "eu-west-1", snap: &Snapshot{Nodes: []*corev1.Node{node("eu-west-1")}}},
		{name: "flag contradicts", flag: "us-east-1", err: "--region us-east-1 contradicts the EC2NodeClasses' subnets, which say eu-west-1",
			snap: &Snapshot{EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("a", "", "eu-west-1a")}}},
		{name: "two regions", err: "several regions (eu-west-1, us-east-1)", snap: &Snapshot{EC2NodeClasses: []*awsv1.EC2NodeClass{
			ec2NodeClass("a", "", "eu-west-1a"), ec2NodeClass("b", "", "us-east-1a")}}},
		{name: "unknown from subnets", err: `unknown region "ap-south-2"`, snap: &Snapshot{EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("a", "", "ap-south-2a")}}},
		{name: "none", err: "give --region", snap: &Snapshot{}},
	} {
		got, err := AWSRegion(m, c.snap, c.flag)
		switch {
		case c.err != "" && (!errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// instance-types for a NodePool: filtered by its requirements as the scheduler filters, cheapest first.
func TestInstanceTypesForNodePool(t *testing.T) {
	snap := &Snapshot{
		NodePools: []*karpv1.NodePool{ec2NodePool("eks", "default",
			req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
			req(corev1.LabelArchStable, corev1.NodeSelectorOpIn, "arm64"),
			req(catalog.KwokInstanceFamilyLabel, corev1.NodeSelectorOpIn, "m"))},
		EC2NodeClasses: []*awsv1.EC2NodeClass{ec2NodeClass("default", metav1.ConditionTrue, "eu-west-1a", "eu-west-1b")},
	}
	src := ByNodeClass{CatalogSource(kwok(t), false), NewAWSSource(&fakeModel{t: t}, snap, "")}
	l, err := InstanceTypes(context.Background(), snap, src, InstanceTypeQuery{Requests: corev1.ResourceList{
		corev1.ResourceCPU: mustQuantity("3"), corev1.ResourceMemory: mustQuantity("1Gi")}})
	if err != nil {
		t.Fatal(err)
	}
	if l.NodePool != "eks" || l.NodeClass != "EC2NodeClass/default" || l.Region != "eu-west-1" || len(l.InstanceTypes) == 0 {
		t.Fatalf("list %+v", l)
	}
	prev := -1.0
	for _, it := range l.InstanceTypes {
		if !strings.HasPrefix(it.Name, "m-") || !strings.Contains(it.Name, "arm64") || it.Labels[corev1.LabelArchStable] != "arm64" {
			t.Errorf("%s does not match the NodePool's requirements", it.Name)
		}
		for _, o := range it.Offerings {
			if o.CapacityType != "on-demand" {
				t.Errorf("%s: offering %+v outside the requirements", it.Name, o)
			}
		}
		if it.Price < prev {
			t.Errorf("%s ($%v) after a pricier type", it.Name, it.Price)
		}
		prev = it.Price
		wantFit := it.Allocatable.Cpu().MilliValue() >= 3000
		if it.Fits == nil || *it.Fits != wantFit {
			t.Errorf("%s: fits %v, want %v", it.Name, it.Fits, wantFit)
		}
	}
	// All of the NodeClass, unfiltered; unknown names say what is known.
	all, err := InstanceTypes(context.Background(), snap, src, InstanceTypeQuery{NodeClass: "default"})
	if err != nil || len(all.InstanceTypes) != len(kwok(t).InstanceTypes) {
		t.Errorf("nodeclass: %v, %d types", err, len(all.InstanceTypes))
	}
	_, err = InstanceTypes(context.Background(), snap, src, InstanceTypeQuery{NodePool: "nope"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "NodePools: eks") {
		t.Errorf("unknown NodePool: %v", err)
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

func kwokPrice(t *testing.T, name string) float64 {
	for _, it := range kwok(t).InstanceTypes {
		if it.Name == name {
			return it.Offerings[0].Price
		}
	}
	t.Fatalf("no kwok instance type %s", name)
	return 0
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
