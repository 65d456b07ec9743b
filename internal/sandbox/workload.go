package sandbox

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Workload is a Deployment of pause pods that fit on no system node (they tolerate nothing), so
// Karpenter must provision capacity for them.
type Workload struct {
	Namespace string // default "default"
	Name      string // default "inflate"
	Replicas  int32  // default 5
	CPU       string // request per pod, default "2"
	Memory    string // request per pod, default "1Gi"
	// NodeSelector, e.g. {"topology.kubernetes.io/zone": "test-zone-d"}.
	NodeSelector map[string]string
}

func (w *Workload) defaults() {
	if w.Namespace == "" {
		w.Namespace = corev1.NamespaceDefault
	}
	if w.Name == "" {
		w.Name = "inflate"
	}
	if w.Replicas == 0 {
		w.Replicas = 5
	}
	if w.CPU == "" {
		w.CPU = "2"
	}
	if w.Memory == "" {
		w.Memory = "1Gi"
	}
}

// Deployment builds the workload's Deployment.
func (w Workload) Deployment() *appsv1.Deployment {
	w.defaults()
	labels := map[string]string{"app": w.Name}
	no := false
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: w.Namespace, Name: w.Name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &w.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  &no,
					NodeSelector:                  w.NodeSelector,
					TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers: []corev1.Container{{
						Name: "pause", Image: "registry.k8s.io/pause:3.10",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse(w.CPU), corev1.ResourceMemory: resource.MustParse(w.Memory),
						}},
					}},
				},
			},
		},
	}
}

// CreateWorkload creates the workload (or updates its replicas if it exists) and returns the Deployment.
func (s *Sandbox) CreateWorkload(ctx context.Context, w Workload) (*appsv1.Deployment, error) {
	d := w.Deployment()
	c := s.Env.Client.AppsV1().Deployments(d.Namespace)
	got, err := c.Create(ctx, d, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if got, err = c.Get(ctx, d.Name, metav1.GetOptions{}); err == nil {
			got.Spec = d.Spec
			got, err = c.Update(ctx, got, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating workload %s/%s: %w", d.Namespace, d.Name, err)
	}
	return got, nil
}

// WaitForUnschedulable waits until every replica of d exists and the scheduler marked each
// Unschedulable — the moment Karpenter (and a plan) sees them as pending — and returns how many there are.
// Pods that a node already took count as done (Karpenter may be faster than the caller).
func (s *Sandbox) WaitForUnschedulable(ctx context.Context, d *appsv1.Deployment) (int, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return 0, err
	}
	want := int(*d.Spec.Replicas)
	var pending int
	err = waitFor(ctx, fmt.Sprintf("%d pods of %s/%s marked Unschedulable", want, d.Namespace, d.Name), func() (bool, error) {
		pods, err := s.Env.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, err
		}
		done := 0
		pending = 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				done++
				continue
			}
			if discovery.Unschedulable(&p) != nil {
				pending++
			}
		}
		return done+pending >= want, nil
	})
	return pending, err
}

// NodeClaim is the part of a karpenter.sh/v1 NodeClaim that a plan is compared with.
type NodeClaim struct {
	Name         string    `json:"name"`
	NodePool     string    `json:"nodePool"`
	InstanceType string    `json:"instanceType"`
	CapacityType string    `json:"capacityType"`
	Zone         string    `json:"zone"`
	Node         string    `json:"node,omitempty"`
	Launched     bool      `json:"launched"`
	Registered   bool      `json:"registered"`
	Initialized  bool      `json:"initialized"`
	Ready        bool      `json:"ready"`
	Created      time.Time `json:"created"`
	// Options are the instance types the NodeClaim allowed (its node.kubernetes.io/instance-type requirement).
	Options []string `json:"options,omitempty"`
}

// NodeClaims lists the NodeClaims Karpenter created, oldest first.
func (s *Sandbox) NodeClaims(ctx context.Context) ([]NodeClaim, error) {
	list, err := s.Dynamic.Resource(NodeClaimResource).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodeclaims: %w", err)
	}
	out := make([]NodeClaim, 0, len(list.Items))
	for _, u := range list.Items {
		out = append(out, nodeClaimFrom(&u))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func nodeClaimFrom(u *unstructured.Unstructured) NodeClaim {
	l := u.GetLabels()
	nc := NodeClaim{
		Name: u.GetName(), NodePool: l[karpv1.NodePoolLabelKey], InstanceType: l[corev1.LabelInstanceTypeStable],
		CapacityType: l["karpenter.sh/capacity-type"], Zone: l[corev1.LabelTopologyZone], Created: u.GetCreationTimestamp().Time,
	}
	nc.Node, _, _ = unstructured.NestedString(u.Object, "status", "nodeName")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		ok := m["status"] == "True"
		switch m["type"] {
		case "Launched":
			nc.Launched = ok
		case "Registered":
			nc.Registered = ok
		case "Initialized":
			nc.Initialized = ok
		case "Ready":
			nc.Ready = ok
		}
	}
	reqs, _, _ := unstructured.NestedSlice(u.Object, "spec", "requirements")
	for _, r := range reqs {
		m, _ := r.(map[string]any)
		if m["key"] == corev1.LabelInstanceTypeStable && m["operator"] == "In" {
			vs, _ := m["values"].([]any)
			for _, v := range vs {
				if s, ok := v.(string); ok {
					nc.Options = append(nc.Options, s)
				}
			}
		}
	}
	return nc
}

// WaitForProvisioned waits until no pod in ns is left unscheduled and at least one NodeClaim exists,
// all of them Ready: Karpenter has launched everything the pending pods needed.
func (s *Sandbox) WaitForProvisioned(ctx context.Context, ns string) ([]NodeClaim, error) {
	var got []NodeClaim
	err := waitFor(ctx, "Karpenter to provision for the pending pods in "+ns, func() (ok bool, err error) {
		// One list: until the workload's controller has made its pods, "none pending" says nothing
		// (other NodePools' NodeClaims may all be Ready already), and two lists could see the pods
		// appear in between.
		pods, err := s.Env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.NodeName == "" {
				return false, nil
			}
		}
		got, ok, err = s.readyNodeClaims(ctx)
		return ok, err
	})
	return got, err
}

// readyNodeClaims reports whether at least one NodeClaim exists and all are Ready (their nodes
// registered and initialized).
func (s *Sandbox) readyNodeClaims(ctx context.Context) ([]NodeClaim, bool, error) {
	ncs, err := s.NodeClaims(ctx)
	if err != nil || len(ncs) == 0 {
		return ncs, false, err
	}
	for _, nc := range ncs {
		if !nc.Ready {
			return ncs, false, nil
		}
	}
	return ncs, true, nil
}

// PendingPods lists pods in ns that no node took yet.
func (s *Sandbox) PendingPods(ctx context.Context, ns string) ([]corev1.Pod, error) {
	list, err := s.Env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName="})
	if err != nil {
		return nil, fmt.Errorf("listing pending pods in %s: %w", ns, err)
	}
	return list.Items, nil
}
