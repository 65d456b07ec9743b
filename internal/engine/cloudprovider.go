package engine

import (
	"context"
	"errors"

	"github.com/awslabs/operatorpkg/status"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
)

// catalogProvider is the smallest cloudprovider.CloudProvider that scheduling needs: each NodePool's
// instance types (resolved from its NodeClass beforehand), the NodeClass kinds served and a name. It
// replaces kwok's and AWS's providers (which need clients, options in the context and, for kwok,
// mutate globals in init) and the test-only fake.
type catalogProvider struct {
	byNodePool  map[string][]*cloudprovider.InstanceType
	nodeClasses []schema.GroupKind
}

var _ cloudprovider.CloudProvider = (*catalogProvider)(nil)

var errSimulationOnly = errors.New("karpctl engine: simulation only, nothing is launched")

func (p *catalogProvider) Create(context.Context, *karpv1.NodeClaim) (*karpv1.NodeClaim, error) {
	return nil, errSimulationOnly
}
func (p *catalogProvider) Delete(context.Context, *karpv1.NodeClaim) error { return errSimulationOnly }
func (p *catalogProvider) Get(context.Context, string) (*karpv1.NodeClaim, error) {
	return nil, cloudprovider.NewNodeClaimNotFoundError(errSimulationOnly)
}
func (p *catalogProvider) List(context.Context) ([]*karpv1.NodeClaim, error) { return nil, nil }
func (p *catalogProvider) GetInstanceTypes(_ context.Context, np *karpv1.NodePool) ([]*cloudprovider.InstanceType, error) {
	return p.byNodePool[np.Name], nil
}
func (p *catalogProvider) IsDrifted(context.Context, *karpv1.NodeClaim) (cloudprovider.DriftReason, error) {
	return "", nil
}
func (p *catalogProvider) Reboot(context.Context, *karpv1.NodeClaim, string) error {
	return errSimulationOnly
}
func (p *catalogProvider) RepairPolicies() []cloudprovider.RepairPolicy { return nil }
func (p *catalogProvider) Name() string                                 { return "karpctl" }
func (p *catalogProvider) GetSupportedNodeClasses() []status.Object {
	out := make([]status.Object, 0, len(p.nodeClasses))
	for _, gk := range p.nodeClasses {
		nc := &nodeClassStub{}
		// Karpenter compares group/kind only (nodepoolutils.IsManaged); the version is irrelevant.
		nc.SetGroupVersionKind(gk.WithVersion("v1"))
		out = append(out, nc)
	}
	return out
}

// nodeClassStub stands for a provider's NodeClass kind without importing the provider: Karpenter reads
// its GroupVersionKind (apiutil.GVKForObject reads it from unstructured objects).
type nodeClassStub struct {
	unstructured.Unstructured
}

func (n *nodeClassStub) GetConditions() []status.Condition { return nil }
func (n *nodeClassStub) SetConditions([]status.Condition)  {}
func (n *nodeClassStub) StatusConditions(...status.ForOption) status.ConditionSet {
	return status.NewReadyConditions().For(n)
}
