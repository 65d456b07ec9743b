package topology

import (
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/manifest"
)

// Manifests are the objects audit-topology understands, read from files; other kinds are ignored.
type Manifests struct {
	Deployments []appsv1.Deployment
	PDBs        []policyv1.PodDisruptionBudget
	FlowSchemas []flowcontrolv1.FlowSchema
	Pods        []corev1.Pod
	Nodes       []corev1.Node
	Leases      []coordinationv1.Lease
	// Files are the files read, in order.
	Files []string
}

// ReadManifests reads the paths (package manifest: files, directories, "-" for standard input) and
// keeps the kinds the audit uses, decoded strictly so that a misspelt field is reported. Objects
// without a namespace get defaultNS. Problems are *manifest.Error.
func ReadManifests(paths []string, opts manifest.Options, defaultNS string) (*Manifests, error) {
	read, err := manifest.Read(paths, opts)
	if err != nil {
		return nil, err
	}
	m := &Manifests{Files: read.Files}
	for i := range read.Objects {
		if err := m.add(&read.Objects[i], defaultNS); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Manifests) add(o *manifest.Object, defaultNS string) error {
	setNS := func(meta *metav1.ObjectMeta) {
		if meta.Namespace == "" {
			meta.Namespace = defaultNS
		}
	}
	switch {
	case o.Kind == "Deployment" && o.APIVersion == "apps/v1":
		var d appsv1.Deployment
		if err := o.DecodeStrict(&d); err != nil {
			return err
		}
		setNS(&d.ObjectMeta)
		m.Deployments = append(m.Deployments, d)
	case o.Kind == "PodDisruptionBudget" && (o.APIVersion == "policy/v1" || o.APIVersion == "policy/v1beta1"):
		// `helm template` without a cluster renders policy/v1beta1 (its default capabilities lack
		// policy/v1); the fields audited (selector, maxUnavailable, minAvailable) are the same.
		var p policyv1.PodDisruptionBudget
		if err := o.DecodeStrict(&p); err != nil {
			return err
		}
		p.APIVersion = "policy/v1"
		setNS(&p.ObjectMeta)
		m.PDBs = append(m.PDBs, p)
	case o.Kind == "FlowSchema" && o.Group() == "flowcontrol.apiserver.k8s.io":
		var f flowcontrolv1.FlowSchema
		if err := o.Decode(&f); err != nil { // v1beta* differ only in defaults
			return err
		}
		m.FlowSchemas = append(m.FlowSchemas, f)
	case o.Kind == "Pod" && o.APIVersion == "v1":
		var p corev1.Pod
		if err := o.DecodeStrict(&p); err != nil {
			return err
		}
		setNS(&p.ObjectMeta)
		m.Pods = append(m.Pods, p)
	case o.Kind == "Node" && o.APIVersion == "v1":
		var n corev1.Node
		if err := o.DecodeStrict(&n); err != nil {
			return err
		}
		m.Nodes = append(m.Nodes, n)
	case o.Kind == "Lease" && o.APIVersion == "coordination.k8s.io/v1":
		var l coordinationv1.Lease
		if err := o.DecodeStrict(&l); err != nil {
			return err
		}
		setNS(&l.ObjectMeta)
		m.Leases = append(m.Leases, l)
	}
	return nil
}

// OfflineInput picks the Karpenter Deployment from the manifests (the one whose labels match
// selector, or the only Deployment) and builds an offline Input. nodes (from --nodes-file) are added
// to any nodes in the manifests; pods and nodes together enable the placement checks.
func (m *Manifests) OfflineInput(selector string, nodes []corev1.Node) (Input, *discovery.Karpenter, error) {
	if selector == "" {
		selector = discovery.DefaultSelector
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return Input{}, nil, fmt.Errorf("--karpenter-selector %q: %v", selector, err)
	}
	var d *appsv1.Deployment
	var matched []*appsv1.Deployment
	for i := range m.Deployments {
		if sel.Matches(labels.Set(m.Deployments[i].Labels)) {
			matched = append(matched, &m.Deployments[i])
		}
	}
	switch {
	case len(matched) == 1:
		d = matched[0]
	case len(matched) == 0 && len(m.Deployments) == 1:
		d = &m.Deployments[0]
	case len(m.Deployments) == 0:
		return Input{}, nil, fmt.Errorf("%s: no apps/v1 Deployment in the manifests", strings.Join(m.Files, ", "))
	default:
		var names []string
		for _, x := range m.Deployments {
			names = append(names, x.Namespace+"/"+x.Name)
		}
		return Input{}, nil, fmt.Errorf("%s: %d Deployments (%s) and %d match %s; choose one with --karpenter-selector", strings.Join(m.Files, ", "), len(m.Deployments), strings.Join(names, ", "), len(matched), selector)
	}
	k := discovery.FromDeployment(d)
	in := Input{Mode: "offline", Deployment: d, PDBs: m.PDBs, PDBsRead: true}
	if len(m.FlowSchemas) > 0 {
		in.FlowSchemas, in.FlowSchemasRead = m.FlowSchemas, true
	}
	if len(m.Pods) > 0 {
		in.PodsRead = true
		for _, p := range m.Pods {
			if p.Namespace == d.Namespace && k.PodSelector != nil && k.PodSelector.Matches(labels.Set(p.Labels)) {
				in.Pods = append(in.Pods, p)
			}
		}
		sort.Slice(in.Pods, func(i, j int) bool { return in.Pods[i].Name < in.Pods[j].Name })
	}
	if all := append(append([]corev1.Node(nil), m.Nodes...), nodes...); len(all) > 0 {
		seen := map[string]bool{}
		for i := range all {
			n := &all[i]
			if seen[n.Name] {
				continue
			}
			seen[n.Name] = true
			in.Inventory = append(in.Inventory, metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}, ObjectMeta: n.ObjectMeta})
		}
		in.InventoryRead = true
	}
	for i := range m.Leases {
		l := &m.Leases[i]
		if l.Namespace == k.LeaseNamespace && l.Name == k.LeaseName && !k.LeaderElectionDisabled {
			in.Lease, in.LeaseRead = l, true
		}
	}
	return in, k, nil
}
