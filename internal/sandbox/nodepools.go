package sandbox

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
)

// CreateNodePool creates a NodePool of the sandbox's KWOKNodeClass, on-demand and amd64, with extra
// requirements (each a NodeSelectorRequirementWithMinValues as a map), and waits until the real
// Karpenter marks it Ready.
func (s *Sandbox) CreateNodePool(ctx context.Context, name string, extra ...map[string]any) error {
	if _, err := s.Dynamic.Resource(NodePoolResource).Create(ctx, kwokNodePool(name, extra...), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating NodePool %s: %w", name, err)
	}
	return waitFor(ctx, "NodePool "+name+" Ready", func() (bool, error) { return s.nodePoolReady(ctx, name) })
}

// kwokNodePool is a NodePool of the sandbox's KWOKNodeClass: on-demand, amd64, any zone, and the
// extra requirements (each a NodeSelectorRequirementWithMinValues as a map).
func kwokNodePool(name string, extra ...map[string]any) *unstructured.Unstructured {
	requirements := []any{
		map[string]any{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"on-demand"}},
		map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}},
	}
	for _, r := range extra {
		requirements = append(requirements, r)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": NodeClassName},
			"requirements": requirements,
		}}},
	}}
}

// KarpenterFailedToSchedule waits until Karpenter's provisioner reports that it cannot schedule a pod
// of d (its own FailedScheduling event, not the kube-scheduler's) and returns the event's message:
// from then on Karpenter has decided, not merely not yet acted.
func (s *Sandbox) KarpenterFailedToSchedule(ctx context.Context, d *appsv1.Deployment) (string, error) {
	var msg string
	err := waitFor(ctx, "Karpenter's FailedScheduling event for a pod of "+d.Namespace+"/"+d.Name, func() (bool, error) {
		evs, err := s.Env.Client.CoreV1().Events(d.Namespace).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("reason", "FailedScheduling").String(),
		})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if e.Source.Component == "karpenter" && e.InvolvedObject.Kind == "Pod" && strings.HasPrefix(e.InvolvedObject.Name, d.Name+"-") {
				msg = e.Message
				return true, nil
			}
		}
		return false, nil
	})
	return msg, err
}
