package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	awsv1 "github.com/aws/karpenter-provider-aws/pkg/apis/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"

	"github.com/karpctl/karpctl/internal/engine/catalog"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws"
)

// AWSData says which EC2 facts and prices the AWS model computed with: when they were generated,
// from what, and that spot prices are estimates.
type AWSData = aws.Info

// AWSModel is the AWS provider's own instance-type model fed with generated EC2 facts: what the
// provider's GetInstanceTypes returns for an EC2NodeClass in a region. An EC2NodeClass without
// status.subnets gets every zone of the region, with a warning.
type AWSModel interface {
	Regions() []string
	Data() AWSData
	InstanceTypes(ctx context.Context, nodeClass *awsv1.EC2NodeClass, region string) ([]*cloudprovider.InstanceType, []string, error)
}

// DefaultAWSModel is the model built into karpctl: package catalog/aws.
var DefaultAWSModel AWSModel = builtinAWSModel{}

type builtinAWSModel struct{}

func (builtinAWSModel) Regions() []string { return aws.Regions() }
func (builtinAWSModel) Data() AWSData     { return aws.DataInfo() }
func (builtinAWSModel) InstanceTypes(ctx context.Context, nc *awsv1.EC2NodeClass, region string) ([]*cloudprovider.InstanceType, []string, error) {
	return aws.InstanceTypes(ctx, nc, region)
}

// ErrRegion means the AWS region is unknown, missing or contradictory: an input problem.
var ErrRegion = errors.New("AWS region")

// EC2NodeClassKind is the AWS provider's NodeClass kind.
var EC2NodeClassKind = catalog.EC2NodeClass

// awsSource serves EC2NodeClass NodePools with the AWS model for their EC2NodeClass, as the AWS
// provider does (one set of instance types per EC2NodeClass).
type awsSource struct {
	model      AWSModel
	snap       *Snapshot
	regionFlag string

	once      sync.Once
	region    string
	regionErr error
	resolved  map[string]*Resolved
}

// NewAWSSource serves the snapshot's EC2NodeClasses with model; regionFlag is --region (see AWSRegion).
func NewAWSSource(model AWSModel, snap *Snapshot, regionFlag string) InstanceTypeSource {
	return &awsSource{model: model, snap: snap, regionFlag: regionFlag, resolved: map[string]*Resolved{}}
}

func newAWSSource(snap *Snapshot, regionFlag string) InstanceTypeSource {
	return NewAWSSource(DefaultAWSModel, snap, regionFlag)
}

func (s *awsSource) Serves(kind schema.GroupKind) bool { return kind == EC2NodeClassKind }

func (s *awsSource) Resolve(ctx context.Context, ref *karpv1.NodeClassReference) (*Resolved, error) {
	nc := s.nodeClass(ref.Name)
	if err := nodeClassReady(nc, ref, s.snap.Live); err != nil && (nc == nil || !nodeClassAssumedReady(ctx)) {
		return nil, err
	}
	if r, ok := s.resolved[ref.Name]; ok {
		return r, nil
	}
	s.once.Do(func() { s.region, s.regionErr = AWSRegion(s.model, s.snap, s.regionFlag) })
	if s.regionErr != nil {
		return nil, s.regionErr
	}
	data := s.model.Data()
	r := &Resolved{Source: "aws", Region: s.region, AWSData: &data}
	its, warnings, err := s.model.InstanceTypes(aws.WithReservationsFree(ctx, s.snap.CapacityReservationsFree), nc, s.region)
	if err != nil {
		return nil, fmt.Errorf("EC2NodeClass %s: AWS instance types: %w", nc.Name, err)
	}
	r.InstanceTypes = its
	r.Warnings = append(r.Warnings, warnings...)
	s.resolved[ref.Name] = r
	return r, nil
}

func (s *awsSource) nodeClass(name string) *awsv1.EC2NodeClass {
	for _, nc := range s.snap.EC2NodeClasses {
		if nc.Name == name {
			return nc
		}
	}
	return nil
}

// nodeClassReady is Karpenter's NodePool readiness controller's verdict on the NodeClass
// (pkg/controllers/nodepool/readiness): nil when NodePools referencing it may provision. Offline, a
// NodeClass from files carries no reconciled status: only a stored Ready=False counts.
func nodeClassReady(nc *awsv1.EC2NodeClass, ref *karpv1.NodeClassReference, live bool) error {
	fail := func(reason, message string) error {
		return &NodeClassError{Kind: ref.Kind, Name: ref.Name, Reason: reason, Message: message}
	}
	if nc == nil {
		return fail("NodeClassNotFound", "NodeClass not found on cluster")
	}
	if nc.DeletionTimestamp != nil {
		return fail("NodeClassTerminating", "NodeClass is Terminating")
	}
	switch ready := storedReady(nc.Status.Conditions); {
	case ready != nil && ready.IsFalse():
		return fail(ready.Reason, ready.Message)
	case live && (ready == nil || ready.IsUnknown()):
		return fail("NodeClassReadinessUnknown", "Node Class Readiness Unknown")
	}
	return nil
}

// regionOfZone cuts an AWS zone name to its region: us-east-1a, us-east-1-bos-1a (a local zone) and
// us-east-1-wl1-bos-wlz-1 (a Wavelength zone) are all in us-east-1.
var regionOfZone = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+`)

// AWSRegion is the region EC2NodeClass NodePools launch in: the topology.kubernetes.io/region of the
// nodes (those in a region the model knows), else the region of the EC2NodeClasses' subnets' zones,
// else regionFlag. A regionFlag that contradicts the cluster, a region the model does not know and
// no region at all are ErrRegion errors.
func AWSRegion(model AWSModel, snap *Snapshot, regionFlag string) (string, error) {
	known := model.Regions()
	isKnown := func(r string) bool {
		i := sort.SearchStrings(known, r)
		return i < len(known) && known[i] == r
	}
	region, from := "", ""
	counts := map[string]int{}
	for _, n := range snap.Nodes {
		if r := n.Labels[corev1.LabelTopologyRegion]; isKnown(r) {
			counts[r]++
		}
	}
	for r, c := range counts {
		if c > counts[region] || (c == counts[region] && r < region) {
			region = r
		}
	}
	if region != "" {
		from = "the nodes' " + corev1.LabelTopologyRegion
	} else {
		subnetRegions := map[string]bool{}
		for _, nc := range snap.EC2NodeClasses {
			for _, sn := range nc.Status.Subnets {
				if r := regionOfZone.FindString(sn.Zone); r != "" {
					subnetRegions[r] = true
				}
			}
		}
		var rs []string
		for r := range subnetRegions {
			rs = append(rs, r)
		}
		sort.Strings(rs)
		if len(rs) > 1 {
			return "", fmt.Errorf("%w: the EC2NodeClasses' subnets are in several regions (%s); Karpenter runs in one", ErrRegion, strings.Join(rs, ", "))
		}
		if len(rs) == 1 {
			region, from = rs[0], "the EC2NodeClasses' subnets"
		}
	}
	switch {
	case region != "" && regionFlag != "" && regionFlag != region:
		return "", fmt.Errorf("%w: --region %s contradicts %s, which say %s: drop --region", ErrRegion, regionFlag, from, region)
	case region == "" && regionFlag == "":
		return "", fmt.Errorf("%w: neither nodes (%s) nor EC2NodeClass subnets tell the region: give --region (known: %s)", ErrRegion, corev1.LabelTopologyRegion, strings.Join(known, ", "))
	case region == "":
		region = regionFlag
	}
	if !isKnown(region) {
		return "", fmt.Errorf("%w: unknown region %q (known: %s)", ErrRegion, region, strings.Join(known, ", "))
	}
	return region, nil
}
