package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
	"sigs.k8s.io/karpenter/pkg/cloudprovider"
	"sigs.k8s.io/karpenter/pkg/scheduling"
	"sigs.k8s.io/karpenter/pkg/utils/resources"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// InstanceTypeQuery says whose instance types to list: a NodePool's (filtered by its requirements, as
// Karpenter's scheduler filters them) or a NodeClass's (all of them). With neither, the snapshot's
// only NodePool.
type InstanceTypeQuery struct {
	NodePool  string
	NodeClass string
	// Requests, when set, marks which instance types have room for a pod requesting them, with the
	// DaemonSet pods Karpenter expects on the node (see schedulerFits).
	Requests corev1.ResourceList
	// Pod, when set, marks which instance types Karpenter would consider for it: room for its
	// requests (Karpenter's RequestsForPods: containers, init containers, overhead) and the DaemonSet
	// pods, and its node selector, affinity and tolerations compatible with the type and one of its
	// offerings.
	Pod *corev1.Pod
}

// InstanceTypeList is what Karpenter would consider. Its JSON form is karpctl's instance-types schema.
type InstanceTypeList struct {
	NodePool string `json:"nodePool,omitempty"`
	// NodeClass is KIND/NAME.
	NodeClass string   `json:"nodeClass"`
	Catalog   string   `json:"catalog"`
	Region    string   `json:"region,omitempty"`
	AWSData   *AWSData `json:"awsData,omitempty"`
	// Requests is the --requests or --pod pod's, when given; InstanceType.Fits answers it.
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// Pod names the --pod pod (namespace/name), when given.
	Pod string `json:"pod,omitempty"`
	// DaemonSets is how many DaemonSets were known (live, or in the files) when Fits was computed:
	// their pods that Karpenter expects on a new node count against its room.
	DaemonSets    int                `json:"daemonSets,omitempty"`
	InstanceTypes []InstanceTypeInfo `json:"instanceTypes"`
	Warnings      []Warning          `json:"warnings"`
	// KarpenterSettings are the settings of the cluster's Karpenter the types were built with.
	KarpenterSettings *karpenter.Settings `json:"karpenterSettings,omitempty"`
}

// InstanceTypeInfo is one instance type as Karpenter's scheduler sees it.
type InstanceTypeInfo struct {
	Name string `json:"name"`
	// Allocatable is capacity minus kube-reserved, system-reserved and the eviction threshold: what
	// Karpenter packs pods against.
	Allocatable corev1.ResourceList `json:"allocatable"`
	Capacity    corev1.ResourceList `json:"capacity"`
	// GPUs counts the accelerators (nvidia.com/gpu, amd.com/gpu, aws.amazon.com/neuron, habana.ai/gaudi).
	GPUs int64 `json:"gpus"`
	// Labels are the instance type's single-valued requirements (family, size, cpu, memory, ...).
	Labels map[string]string `json:"labels"`
	// Offerings are the places and ways to buy it that the requirements allow, cheapest first.
	Offerings []OfferingInfo `json:"offerings"`
	// Price is the cheapest offering's, -1 when none is available.
	Price float64 `json:"price"`
	Fits  *bool   `json:"fits,omitempty"`
	// Overlay names the NodeOverlays that changed its price or capacity (NodeOverlay gate on).
	Overlay *OverlayMark `json:"overlay,omitempty"`
}

// OfferingInfo is one zone and capacity type with its price.
type OfferingInfo struct {
	Zone         string  `json:"zone"`
	CapacityType string  `json:"capacityType"`
	Price        float64 `json:"price"`
	Available    bool    `json:"available"`
}

// ErrNotFound means the NodePool or NodeClass asked for is not in the snapshot.
var ErrNotFound = errors.New("not found")

var gpuResources = []corev1.ResourceName{"nvidia.com/gpu", "amd.com/gpu", "aws.amazon.com/neuron", "habana.ai/gaudi"}

// InstanceTypes lists the instance types Karpenter would consider for a NodePool or NodeClass of the
// snapshot, sorted by price (cheapest available offering) then name. A *NodeClassError says the
// NodeClass is not Ready, so Karpenter would consider none.
func InstanceTypes(ctx context.Context, snap *Snapshot, src InstanceTypeSource, q InstanceTypeQuery) (*InstanceTypeList, error) {
	ref, np, err := queryTarget(snap, q)
	if err != nil {
		return nil, err
	}
	if !src.Serves(ref.GroupKind()) {
		return nil, fmt.Errorf("karpctl has no instance types for %s.%s (it knows KWOKNodeClass and EC2NodeClass; --catalog FILE serves any kind)", ref.Kind, ref.Group)
	}
	kctx, err := karpenterContext(ctx, snap.Karpenter)
	if err != nil {
		return nil, err
	}
	res, err := src.Resolve(kctx, ref)
	if err != nil {
		return nil, err
	}
	out := &InstanceTypeList{NodeClass: ref.Kind + "/" + ref.Name, Catalog: res.Source, Region: res.Region, AWSData: res.AWSData,
		Requests: q.Requests, InstanceTypes: []InstanceTypeInfo{}, Warnings: []Warning{}, KarpenterSettings: snap.Karpenter}
	var pod *corev1.Pod
	switch {
	case q.Pod != nil:
		pod = q.Pod.DeepCopy()
		out.Pod, out.Requests = q.Pod.Namespace+"/"+q.Pod.Name, resources.RequestsForPods(q.Pod)
	case len(q.Requests) > 0:
		pod = requestsPod(q.Requests)
	}
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, Warning{Message: w})
	}
	// Fits and NodeOverlays need Karpenter's code: one simulation of the NodePool serves both.
	its, reqs := res.InstanceTypes, scheduling.NewRequirements()
	var fits map[string]bool
	var marks map[string]*OverlayMark
	if pod != nil || len(snap.NodeOverlays) > 0 {
		var pods []*corev1.Pod
		if pod != nil {
			pods = append(pods, pod)
		}
		sim, err := newSimulation(ctx, oneNodePool(snap, ref, np, pods...), Options{InstanceTypes: src, keepStatic: true})
		if err != nil {
			return nil, err
		}
		decorated, m, ws, err := sim.overlaid()
		if err != nil {
			return nil, err
		}
		out.Warnings, marks = append(out.Warnings, ws...), m
		if decorated != nil {
			its = decorated
		}
		if pod != nil {
			f, why, err := sim.fits()
			if err != nil {
				return nil, err
			}
			fits, out.DaemonSets = f, len(snap.DaemonSets)
			if why != "" {
				out.Warnings = append(out.Warnings, Warning{Message: "Karpenter's scheduler would launch no node for the pod: " + why})
			}
		}
	}
	if np != nil {
		out.NodePool = np.Name
		its, reqs = CompatibleInstanceTypes(np, its), nodeClaimRequirements(np)
	}
	for _, it := range its {
		info := describeInstanceType(it, reqs)
		info.Overlay = marks[it.Name]
		if fits != nil {
			f := fits[it.Name]
			info.Fits = &f
		}
		out.InstanceTypes = append(out.InstanceTypes, info)
	}
	sort.SliceStable(out.InstanceTypes, func(a, b int) bool {
		pa, pb := sortPrice(out.InstanceTypes[a].Price), sortPrice(out.InstanceTypes[b].Price)
		if pa != pb {
			return pa < pb
		}
		return out.InstanceTypes[a].Name < out.InstanceTypes[b].Name
	})
	return out, nil
}

func sortPrice(p float64) float64 {
	if p < 0 {
		return math.Inf(1)
	}
	return p
}

// queryTarget finds the NodeClass reference (and NodePool) the query is about.
func queryTarget(snap *Snapshot, q InstanceTypeQuery) (*karpv1.NodeClassReference, *karpv1.NodePool, error) {
	names := make([]string, 0, len(snap.NodePools))
	for _, np := range snap.NodePools {
		names = append(names, np.Name)
	}
	sort.Strings(names)
	switch {
	case q.NodePool != "":
		for _, np := range snap.NodePools {
			if np.Name == q.NodePool {
				ref := np.Spec.Template.Spec.NodeClassRef
				if ref == nil || ref.Kind == "" || ref.Group == "" {
					return nil, nil, fmt.Errorf("NodePool %s: spec.template.spec.nodeClassRef needs group, kind and name", np.Name)
				}
				return ref, np, nil
			}
		}
		return nil, nil, fmt.Errorf("%w: NodePool %q (NodePools: %s)", ErrNotFound, q.NodePool, orNone(names))
	case q.NodeClass != "":
		for _, nc := range snap.EC2NodeClasses {
			if nc.Name == q.NodeClass {
				return &karpv1.NodeClassReference{Group: EC2NodeClassKind.Group, Kind: EC2NodeClassKind.Kind, Name: nc.Name}, nil, nil
			}
		}
		// Other kinds are not read: a NodeClass is known by the NodePools referencing it.
		var known []string
		for _, np := range snap.NodePools {
			if ref := np.Spec.Template.Spec.NodeClassRef; ref != nil {
				if ref.Name == q.NodeClass {
					return ref, nil, nil
				}
				known = append(known, ref.Kind+"/"+ref.Name)
			}
		}
		for _, nc := range snap.EC2NodeClasses {
			known = append(known, EC2NodeClassKind.Kind+"/"+nc.Name)
		}
		sort.Strings(known)
		return nil, nil, fmt.Errorf("%w: NodeClass %q (NodeClasses: %s)", ErrNotFound, q.NodeClass, orNone(known))
	case len(snap.NodePools) == 1:
		return queryTarget(snap, InstanceTypeQuery{NodePool: snap.NodePools[0].Name})
	case len(snap.NodePools) == 0 && len(snap.EC2NodeClasses) == 1:
		return queryTarget(snap, InstanceTypeQuery{NodeClass: snap.EC2NodeClasses[0].Name})
	}
	return nil, nil, fmt.Errorf("%w: give --nodepool NAME or --nodeclass NAME (NodePools: %s)", ErrNotFound, orNone(names))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func describeInstanceType(it *cloudprovider.InstanceType, reqs scheduling.Requirements) InstanceTypeInfo {
	info := InstanceTypeInfo{Name: it.Name, Allocatable: it.Allocatable(), Capacity: it.Capacity, Labels: map[string]string{}, Offerings: []OfferingInfo{}, Price: -1}
	for _, r := range gpuResources {
		if q, ok := it.Capacity[r]; ok {
			info.GPUs += q.Value()
		}
	}
	for _, r := range it.Requirements.Values() {
		if r.Operator() == corev1.NodeSelectorOpIn && r.Len() == 1 {
			info.Labels[r.Key] = r.Any()
		}
	}
	for _, o := range it.Offerings.Compatible(reqs) {
		info.Offerings = append(info.Offerings, OfferingInfo{Zone: o.Zone(), CapacityType: o.CapacityType(), Price: o.Price, Available: o.Available})
		if o.Available && (info.Price < 0 || o.Price < info.Price) {
			info.Price = o.Price
		}
	}
	sort.SliceStable(info.Offerings, func(a, b int) bool {
		oa, ob := info.Offerings[a], info.Offerings[b]
		if oa.Price != ob.Price {
			return oa.Price < ob.Price
		}
		if oa.CapacityType != ob.CapacityType {
			return oa.CapacityType < ob.CapacityType
		}
		return oa.Zone < ob.Zone
	})
	return info
}

// ParseRequests reads cpu=…,memory=…[,RESOURCE=QUANTITY…] (the --requests flag).
func ParseRequests(s string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not RESOURCE=QUANTITY", kv)
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %v", k, v, err)
		}
		out[corev1.ResourceName(k)] = q
	}
	return out, nil
}
