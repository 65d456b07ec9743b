package harness

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// Builder creates scenario objects on a real apiserver, so tests read like scenarios.
type Builder struct{ C kubernetes.Interface }

// NewBuilder returns a Builder over c.
func NewBuilder(c kubernetes.Interface) *Builder { return &Builder{C: c} }

// NodeSpec describes a fake node. Kwok (when running) makes nodes annotated kwok.x-k8s.io/node=fake Ready.
type NodeSpec struct {
	Name, Zone  string
	Labels      map[string]string
	Taints      []corev1.Taint
	CPU, Memory string // capacity; default 4 CPU / 16Gi
	// NotKwok leaves the node unmanaged by kwok (it never turns Ready by itself).
	NotKwok       bool
	Unschedulable bool
}

// Node creates the node with its status (create keeps .status; kwok then keeps it Ready).
func (b *Builder) Node(ctx context.Context, t testing.TB, s NodeSpec) *corev1.Node {
	t.Helper()
	n, err := b.CreateNode(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// CreateNode is Node without a testing.TB, for the sandbox.
func (b *Builder) CreateNode(ctx context.Context, s NodeSpec) (*corev1.Node, error) {
	if s.CPU == "" {
		s.CPU = "4"
	}
	if s.Memory == "" {
		s.Memory = "16Gi"
	}
	labels := map[string]string{corev1.LabelHostname: s.Name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64", "type": "kwok"}
	if s.Zone != "" {
		labels[corev1.LabelTopologyZone] = s.Zone
		labels[corev1.LabelTopologyRegion] = "test-region"
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	ann := map[string]string{}
	if !s.NotKwok {
		ann["kwok.x-k8s.io/node"] = "fake"
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(s.CPU),
		corev1.ResourceMemory: resource.MustParse(s.Memory),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: labels, Annotations: ann},
		Spec:       corev1.NodeSpec{Taints: s.Taints, Unschedulable: s.Unschedulable},
		Status: corev1.NodeStatus{
			Capacity: capacity, Allocatable: capacity,
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: s.Name}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
	got, err := b.C.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating node %s: %w", s.Name, err)
	}
	return got, nil
}

// Namespace creates ns if it does not exist.
func (b *Builder) Namespace(ctx context.Context, t testing.TB, ns string) {
	t.Helper()
	if err := b.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
}

// EnsureNamespace creates ns if it does not exist.
func (b *Builder) EnsureNamespace(ctx context.Context, ns string) error {
	_, err := b.C.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// PodSpec describes a pod bound to a node (no scheduler needed).
type PodSpec struct {
	Namespace, Name, Node string
	Labels                map[string]string
	CPU, Memory           string
	HostNetwork           bool
	// Template, when set, is the pod's spec (Node still binds it).
	Template *corev1.PodSpec
}

// Pod creates a pod bound to s.Node.
func (b *Builder) Pod(ctx context.Context, t testing.TB, s PodSpec) *corev1.Pod {
	t.Helper()
	got, err := b.C.CoreV1().Pods(s.Namespace).Create(ctx, PodObject(s), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", s.Namespace, s.Name, err)
	}
	return got
}

// PodObject is the pod Pod creates, for tests that create it themselves.
func PodObject(s PodSpec) *corev1.Pod {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10"}}}
	if s.Template != nil {
		spec = *s.Template.DeepCopy()
	}
	spec.NodeName = s.Node
	spec.HostNetwork = spec.HostNetwork || s.HostNetwork
	if s.CPU != "" || s.Memory != "" {
		req := corev1.ResourceList{}
		if s.CPU != "" {
			req[corev1.ResourceCPU] = resource.MustParse(s.CPU)
		}
		if s.Memory != "" {
			req[corev1.ResourceMemory] = resource.MustParse(s.Memory)
		}
		spec.Containers[0].Resources.Requests = req
	}
	// kwok's stages and the API server tolerate pods without service accounts when the admission
	// plugin is on only if the default one exists; tests create pods directly, so opt out of the token.
	f := false
	spec.AutomountServiceAccountToken = &f
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: s.Labels}, Spec: spec}
}

// KarpenterSpec is a Karpenter Deployment shaped like the Helm chart's defaults.
type KarpenterSpec struct {
	Namespace string
	Name      string // default "karpenter"
	Replicas  int32  // default 2
	Env       map[string]string
	// Bare drops every HA guard (affinity, spread, priority class, resources).
	Bare bool
	// Image default public.ecr.aws/karpenter/controller:1.15.0
	Image string
}

// KarpenterLabels are the chart's pod labels.
func KarpenterLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}
}

// KarpenterDeployment builds (does not create) the chart-like Deployment.
func KarpenterDeployment(s KarpenterSpec) *appsv1.Deployment {
	if s.Name == "" {
		s.Name = "karpenter"
	}
	if s.Replicas == 0 {
		s.Replicas = 2
	}
	if s.Image == "" {
		s.Image = "public.ecr.aws/karpenter/controller:1.15.0"
	}
	labels := KarpenterLabels()
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	pod := corev1.PodSpec{
		Containers:  []corev1.Container{{Name: "controller", Image: s.Image, Env: env}},
		Tolerations: []corev1.Toleration{{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}},
	}
	if !s.Bare {
		one := resource.MustParse("1")
		gi := resource.MustParse("1Gi")
		pod.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: one, corev1.ResourceMemory: gi},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: one, corev1.ResourceMemory: gi},
		}
		pod.PriorityClassName = "system-cluster-critical"
		pod.Affinity = &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: karpv1.NodePoolLabelKey, Operator: corev1.NodeSelectorOpDoesNotExist}}}},
			}},
			PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
			}}},
		}
		pod.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
		}}
	}
	maxUnavailable := intstr.FromInt32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &s.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxUnavailable}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// KarpenterPDB is the chart's PodDisruptionBudget (maxUnavailable 1).
func KarpenterPDB(ns string) *policyv1.PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "karpenter", Labels: KarpenterLabels()},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one, Selector: &metav1.LabelSelector{MatchLabels: KarpenterLabels()}},
	}
}

// Karpenter creates the namespace and Deployment, and — without a controller-manager — one pod per
// node in nodes, bound directly, named like ReplicaSet pods. It returns the pods.
func (b *Builder) Karpenter(ctx context.Context, t testing.TB, s KarpenterSpec, nodes ...string) []*corev1.Pod {
	t.Helper()
	b.Namespace(ctx, t, s.Namespace)
	d := KarpenterDeployment(s)
	d, err := b.C.AppsV1().Deployments(s.Namespace).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating deployment: %v", err)
	}
	var pods []*corev1.Pod
	for i, n := range nodes {
		pods = append(pods, b.Pod(ctx, t, PodSpec{
			Namespace: s.Namespace, Name: fmt.Sprintf("%s-7d9f8c6b5-%c%c%c%c%c", d.Name, 'a'+i, 'x', 'q', 'z', 'k'),
			Node: n, Labels: d.Spec.Template.Labels, Template: &d.Spec.Template.Spec,
		}))
	}
	return pods
}
