package sandbox

import (
	"context"
	"embed"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/utils/ptr"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/harness"
)

// CRDs are Karpenter's CustomResourceDefinitions (pkg/apis/crds and kwok/apis/crds of the pinned
// sigs.k8s.io/karpenter), copied by `go generate` (crds/update.sh); TestCRDsMatchModule guards drift.
//
//go:generate bash crds/update.sh
//go:embed crds/*.yaml crds/VERSION
var CRDs embed.FS

// AWSCRDs is the AWS provider's EC2NodeClass CRD (pkg/apis/crds of the pinned
// github.com/aws/karpenter-provider-aws), copied by the same `go generate`; not installed by the
// sandbox itself (it runs kwok), only by InstallAWSCRDs for tests of EKS-style NodePools.
//
//go:embed crds/aws/*.yaml crds/aws/VERSION
var AWSCRDs embed.FS

// EC2NodeClassResource is the AWS provider's NodeClass.
var EC2NodeClassResource = schema.GroupVersionResource{Group: "karpenter.k8s.aws", Version: "v1", Resource: "ec2nodeclasses"}

// KarpenterVersion is the sigs.k8s.io/karpenter version the embedded CRDs come from.
func KarpenterVersion() string {
	b, _ := CRDs.ReadFile("crds/VERSION")
	return strings.TrimSpace(string(b))
}

// GVRs of the objects the sandbox creates and reads.
var (
	CRDResource       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	NodePoolResource  = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodepools"}
	NodeClaimResource = schema.GroupVersionResource{Group: "karpenter.sh", Version: "v1", Resource: "nodeclaims"}
	NodeClassResource = schema.GroupVersionResource{Group: "karpenter.kwok.sh", Version: "v1alpha1", Resource: "kwoknodeclasses"}
)

// Zones of the kwok instance-type catalog (kwok/cloudprovider/instance_types.json). The system nodes use
// the first three so that topology spread sees the same zones Karpenter launches into.
var Zones = []string{"test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d"}

// crdObjects decodes the embedded CRDs, sorted by file name.
func crdObjects() ([]*unstructured.Unstructured, error) { return decodeCRDs(CRDs, "crds") }

// decodeCRDs decodes the CRDs of one embedded directory, sorted by name.
func decodeCRDs(fsys embed.FS, dir string) ([]*unstructured.Unstructured, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		b, err := fsys.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", e.Name(), err)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}

// InstallCRDs creates the embedded CRDs (existing ones are left as they are) and waits until each is
// Established: the sandbox's installer, for tests that need Karpenter's API without a sandbox.
func InstallCRDs(ctx context.Context, dyn dynamic.Interface) error { return installCRDs(ctx, dyn) }

// InstallAWSCRDs creates the AWS provider's EC2NodeClass CRD and waits until it is Established.
func InstallAWSCRDs(ctx context.Context, dyn dynamic.Interface) error {
	crds, err := decodeCRDs(AWSCRDs, "crds/aws")
	if err != nil {
		return err
	}
	return createCRDs(ctx, dyn, crds)
}

func installCRDs(ctx context.Context, dyn dynamic.Interface) error {
	crds, err := crdObjects()
	if err != nil {
		return err
	}
	return createCRDs(ctx, dyn, crds)
}

func createCRDs(ctx context.Context, dyn dynamic.Interface, crds []*unstructured.Unstructured) error {
	for _, crd := range crds {
		if _, err := dyn.Resource(CRDResource).Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", crd.GetName(), err)
		}
	}
	for _, crd := range crds {
		name := crd.GetName()
		if err := waitFor(ctx, "CRD "+name+" Established", func() (bool, error) {
			got, err := dyn.Resource(CRDResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// NodeClassObject is the sandbox's KWOKNodeClass. Its status defaults to Ready (CRD default).
func NodeClassObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.kwok.sh/v1alpha1", "kind": "KWOKNodeClass",
		"metadata": map[string]any{"name": NodeClassName},
		"spec":     map[string]any{},
	}}
}

// NodePoolObject is the sandbox's NodePool: linux/amd64, on-demand or spot, any catalog zone. Empty
// nodes go after 30 s; nodes with pods are never consolidated, so a plan can be compared with what
// Karpenter launched for as long as the workload exists.
func NodePoolObject() *unstructured.Unstructured {
	req := func(key string, values ...string) map[string]any {
		vs := make([]any, len(values))
		for i, v := range values {
			vs[i] = v
		}
		return map[string]any{"key": key, "operator": "In", "values": vs}
	}
	zones := make([]string, len(Zones))
	copy(zones, Zones)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
		"metadata": map[string]any{"name": NodePoolName},
		"spec": map[string]any{
			"template": map[string]any{
				"spec": map[string]any{
					"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": NodeClassName},
					"requirements": []any{
						req("karpenter.sh/capacity-type", "on-demand", "spot"),
						req(corev1.LabelTopologyZone, zones...),
						req(corev1.LabelOSStable, "linux"),
						req(corev1.LabelArchStable, "amd64"),
					},
					"expireAfter": "Never",
				},
			},
			"limits":     map[string]any{"cpu": "1000"},
			"disruption": map[string]any{"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s"},
		},
	}}
}

func (s *Sandbox) createNodePool(ctx context.Context) error {
	for _, o := range []struct {
		gvr schema.GroupVersionResource
		obj *unstructured.Unstructured
	}{{NodeClassResource, NodeClassObject()}, {NodePoolResource, NodePoolObject()}} {
		if _, err := s.Dynamic.Resource(o.gvr).Create(ctx, o.obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s: %w", o.obj.GetKind(), o.obj.GetName(), err)
		}
	}
	return nil
}

// SystemNodeSpecs are the three nodes Karpenter runs on: one per zone a/b/c, tainted CriticalAddonsOnly,
// not Karpenter-managed, with real capacity (kwok's default would be 1000 CPUs).
func SystemNodeSpecs() []harness.NodeSpec {
	var out []harness.NodeSpec
	for _, z := range Zones[:3] {
		out = append(out, harness.NodeSpec{
			Name: "system-" + strings.TrimPrefix(z, "test-zone-"), Zone: z, CPU: "4", Memory: "16Gi",
			Labels: map[string]string{"node.kubernetes.io/instance-type": "system-4x", "sandbox.karpctl.dev/role": "system"},
			Taints: []corev1.Taint{{Key: "CriticalAddonsOnly", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		})
	}
	return out
}

func (s *Sandbox) createSystemNodes(ctx context.Context) error {
	b := harness.NewBuilder(s.Env.Client)
	for _, n := range SystemNodeSpecs() {
		if _, err := b.CreateNode(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		s.SystemNodes = append(s.SystemNodes, n.Name)
	}
	return waitFor(ctx, "system nodes Ready", func() (bool, error) {
		for _, name := range s.SystemNodes {
			n, err := s.Env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil || !nodeReady(n) {
				return false, err
			}
			// The API server adds node.kubernetes.io/not-ready at creation; until the node-lifecycle
			// controller removes it, Karpenter's pods would fail scheduling once (a Warning event).
			for _, t := range n.Spec.Taints {
				if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// createKarpenter creates the namespace, ServiceAccount, PDB and the chart-like Deployment.
func (s *Sandbox) createKarpenter(ctx context.Context, opts Options) error {
	b := harness.NewBuilder(s.Env.Client)
	if err := b.EnsureNamespace(ctx, s.Namespace); err != nil {
		return err
	}
	c := s.Env.Client
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: ServiceAccount, Labels: harness.KarpenterLabels()}}
	if _, err := c.CoreV1().ServiceAccounts(s.Namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating service account: %w", err)
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(s.Namespace).Create(ctx, harness.KarpenterPDB(s.Namespace), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating PDB: %w", err)
	}
	if _, err := c.AppsV1().Deployments(s.Namespace).Create(ctx, KarpenterDeployment(s.Namespace, opts.Replicas, opts.KarpenterEnv), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Karpenter deployment: %w", err)
	}
	return nil
}

// KarpenterDeployment is harness.KarpenterDeployment (chart defaults: 2 replicas, zone spread, host
// anti-affinity, karpenter.sh/nodepool DoesNotExist, system-cluster-critical, 1 CPU/1Gi) with the
// chart's env and ServiceAccount. The env documents what each process gets; the Runner sets the real
// ports, since every process shares the host's network.
func KarpenterDeployment(ns string, replicas int32, extra map[string]string) *appsv1.Deployment {
	env := map[string]string{
		"KUBERNETES_MIN_VERSION":    "1.19.0-0",
		"KARPENTER_SERVICE":         DeploymentName,
		"METRICS_PORT":              "8080",
		"HEALTH_PROBE_PORT":         "8081",
		"SYSTEM_NAMESPACE":          ns,
		"LEADER_ELECTION_NAMESPACE": ns,
		"MEMORY_LIMIT":              "1073741824",
		"CPU_REQUESTS":              "1000",
		"LOG_LEVEL":                 "info",
	}
	for k, v := range extra {
		env[k] = v
	}
	d := harness.KarpenterDeployment(harness.KarpenterSpec{Namespace: ns, Name: DeploymentName, Replicas: replicas, Env: env})
	d.Spec.Template.Spec.ServiceAccountName = ServiceAccount
	// As in the chart: the binary, not a shell, is PID 1, and SIGTERM ends it at once (v1.15.0).
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
	return d
}

// nodePoolReady reports whether NodePool name has the condition Ready=True.
func (s *Sandbox) nodePoolReady(ctx context.Context, name string) (bool, error) {
	np, err := s.Dynamic.Resource(NodePoolResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	conds, _, err := unstructured.NestedSlice(np.Object, "status", "conditions")
	if err != nil {
		return false, err
	}
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			return m["status"] == "True", nil
		}
	}
	return false, nil
}

// CreateReadyNodePool creates a NodePool of the sandbox's KWOKNodeClass (and the class) the way a
// reconciled cluster has them, status Ready=True as Karpenter's controllers would set it, for tests
// that run no Karpenter: on-demand, amd64, any zone; weight 0 leaves it unset.
func CreateReadyNodePool(ctx context.Context, dyn dynamic.Interface, name string, weight int64) error {
	if _, err := dyn.Resource(NodeClassResource).Create(ctx, NodeClassObject(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	np := kwokNodePool(name)
	if weight > 0 {
		_ = unstructured.SetNestedField(np.Object, weight, "spec", "weight")
	}
	got, err := dyn.Resource(NodePoolResource).Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ string) any {
		return map[string]any{"type": typ, "status": "True", "reason": typ, "message": "", "lastTransitionTime": now, "observedGeneration": got.GetGeneration()}
	}
	got.Object["status"] = map[string]any{"conditions": []any{cond("Ready"), cond("ValidationSucceeded"), cond("NodeClassReady")}}
	_, err = dyn.Resource(NodePoolResource).UpdateStatus(ctx, got, metav1.UpdateOptions{})
	return err
}
