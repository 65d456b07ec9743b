package sandbox

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// BusyPool is the NodePool BusyAndEmpty fills.
const BusyPool = "existing"

// BusyAndEmpty gives the sandbox what a production cluster has before a prediction, once per
// Sandbox whoever asks first: beside the sandbox's own NodePool, NodePool BusyPool with two nodes
// the real Karpenter launched, one with a pod (namespace BusyPool) and one left empty and kept
// (consolidateAfter: Never).
func (s *Sandbox) BusyAndEmpty(ctx context.Context) error {
	s.sceneOnce.Do(func() { s.sceneErr = s.busyAndEmpty(ctx) })
	return s.sceneErr
}

func (s *Sandbox) busyAndEmpty(ctx context.Context) error {
	np := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": BusyPool},
		"spec": map[string]any{
			"disruption": map[string]any{"consolidationPolicy": "WhenEmpty", "consolidateAfter": "Never"},
			"template": map[string]any{"spec": map[string]any{
				"nodeClassRef": map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": NodeClassName},
				"requirements": []any{
					map[string]any{"key": "karpenter.sh/capacity-type", "operator": "In", "values": []any{"on-demand"}},
					map[string]any{"key": "kubernetes.io/arch", "operator": "In", "values": []any{"amd64"}},
				},
			}},
		},
	}}
	if _, err := s.Dynamic.Resource(NodePoolResource).Create(ctx, np, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := s.Env.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: BusyPool}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	w := Workload{Namespace: BusyPool, Name: "busy", Replicas: 2, CPU: "1500m", Memory: "1Gi", NodeSelector: map[string]string{"karpenter.sh/nodepool": BusyPool}}
	d := w.Deployment()
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{TopologyKey: corev1.LabelHostname, LabelSelector: d.Spec.Selector}},
	}}
	if _, err := s.Env.Client.AppsV1().Deployments(BusyPool).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	err := waitFor(ctx, "Karpenter to launch two nodes for NodePool "+BusyPool, func() (bool, error) {
		ncs, err := s.NodeClaims(ctx)
		if err != nil {
			return false, err
		}
		ready := 0
		for _, nc := range ncs {
			if nc.NodePool == BusyPool && nc.Ready {
				ready++
			}
		}
		pending, err := s.PendingPods(ctx, BusyPool)
		return ready == 2 && len(pending) == 0, err
	})
	if err != nil {
		return fmt.Errorf("busy and empty nodes: %w", err)
	}
	// One replica goes: its node stays, empty.
	_, err = s.Env.Client.AppsV1().Deployments(BusyPool).Patch(ctx, d.Name, types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{})
	return err
}

// sceneState is BusyAndEmpty's once.
type sceneState struct {
	sceneOnce sync.Once
	sceneErr  error
}
