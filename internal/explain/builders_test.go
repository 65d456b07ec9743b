package explain

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"

	"github.com/karpctl/karpctl/internal/engine"
)

// Scenario builders over Karpenter's kwok catalog (c-Nx types: N vCPU, 2 GiB per vCPU; m: 8 GiB).

func req(key string, op corev1.NodeSelectorOperator, values ...string) karpv1.NodeSelectorRequirementWithMinValues {
	return karpv1.NodeSelectorRequirementWithMinValues{Key: key, Operator: op, Values: values}
}

type poolOpt func(*karpv1.NodePool)

func nodePool(name string, opts ...poolOpt) *karpv1.NodePool {
	np := &karpv1.NodePool{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: karpv1.NodePoolSpec{Template: karpv1.NodeClaimTemplate{Spec: karpv1.NodeClaimTemplateSpec{
			NodeClassRef: &karpv1.NodeClassReference{Group: "karpenter.kwok.sh", Kind: "KWOKNodeClass", Name: "default"},
			Requirements: []karpv1.NodeSelectorRequirementWithMinValues{
				req(corev1.LabelOSStable, corev1.NodeSelectorOpIn, "linux"),
				req(karpv1.CapacityTypeLabelKey, corev1.NodeSelectorOpIn, "on-demand"),
			},
		}}},
	}
	for _, o := range opts {
		o(np)
	}
	return np
}

func requiring(r ...karpv1.NodeSelectorRequirementWithMinValues) poolOpt {
	return func(np *karpv1.NodePool) {
		np.Spec.Template.Spec.Requirements = append(np.Spec.Template.Spec.Requirements, r...)
	}
}

func weighted(w int32) poolOpt { return func(np *karpv1.NodePool) { np.Spec.Weight = &w } }

func limited(cpu string) poolOpt {
	return func(np *karpv1.NodePool) {
		np.Spec.Limits = karpv1.Limits{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
}

func tainted(key, value string) poolOpt {
	return func(np *karpv1.NodePool) {
		np.Spec.Template.Spec.Taints = append(np.Spec.Template.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffectNoSchedule})
	}
}

type podOpt func(*corev1.Pod)

func pod(name, cpu string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func selecting(kv ...string) podOpt {
	return func(p *corev1.Pod) {
		if p.Spec.NodeSelector == nil {
			p.Spec.NodeSelector = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func tolerating(key, value string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpEqual, Value: value, Effect: corev1.TaintEffectNoSchedule})
	}
}

// node is a running kwok node of the NodePool with the given capacity, in test-zone-a.
func node(name, nodePool, instanceType, cpu string) *corev1.Node {
	c := resource.MustParse(cpu)
	capacity := corev1.ResourceList{corev1.ResourceCPU: c, corev1.ResourceMemory: resource.MustParse(fmt.Sprintf("%dGi", 2*c.Value())),
		corev1.ResourcePods: resource.MustParse("110")}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
			karpv1.NodePoolLabelKey: nodePool, corev1.LabelInstanceTypeStable: instanceType, karpv1.NodeRegisteredLabelKey: "true",
			karpv1.NodeInitializedLabelKey: "true", corev1.LabelHostname: name, corev1.LabelTopologyZone: "test-zone-a",
			karpv1.CapacityTypeLabelKey: "on-demand", corev1.LabelArchStable: "amd64", corev1.LabelOSStable: "linux",
		}},
		Spec:   corev1.NodeSpec{ProviderID: "kwok://" + name},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
}

func explainPod(t testing.TB, snap *engine.Snapshot, name string) *PodExplanation {
	t.Helper()
	e, err := Pod(context.Background(), snap, "default", name, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func verdictOf(t testing.TB, e *PodExplanation, nodePool string) NodePoolVerdict {
	t.Helper()
	for _, v := range e.NodePools {
		if v.Name == nodePool {
			return v
		}
	}
	t.Fatalf("no verdict for NodePool %s in %+v", nodePool, e.NodePools)
	return NodePoolVerdict{}
}

func kinds(rs []Reason) []Kind {
	var out []Kind
	for _, r := range rs {
		out = append(out, r.Kind)
	}
	return out
}
