package lease

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/discovery"
)

// Read fetches what Evaluate needs with a fixed number of requests plus one per node hosting a
// Karpenter pod: the Lease, the pods by selector in one namespace, and their nodes by name.
// It never lists pods or nodes cluster-wide.
func Read(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter, now func() time.Time) (Status, error) {
	st, _, err := ReadPods(ctx, c, k, now)
	return st, err
}

// ReadPods is Read that also returns the Karpenter pods the status was evaluated with, for callers
// that judge the same pods further: those listed by selector (k.Pods), or, when only --lease was
// given (no Deployment), the lease holder's pod if it exists.
func ReadPods(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter, now func() time.Time) (Status, []corev1.Pod, error) {
	in := Input{Namespace: k.LeaseNamespace, Name: k.LeaseName, Disabled: k.LeaderElectionDisabled}
	if d := k.Deployment; d != nil {
		in.Replicas = discovery.DesiredReplicas(d)
	}
	if !k.LeaderElectionDisabled {
		var err error
		if in.Lease, err = GetLease(ctx, c, k.LeaseNamespace, k.LeaseName); err != nil {
			return Status{}, nil, err
		}
	}
	pods, err := k.Pods(ctx, c)
	if err != nil {
		return Status{}, nil, err
	}
	if k.Deployment == nil && in.Lease != nil && in.Lease.Spec.HolderIdentity != nil {
		// Only --lease was given: the holder's pod is all we can name, in the lease's namespace.
		host, _ := ParseIdentity(*in.Lease.Spec.HolderIdentity)
		if p, err := c.CoreV1().Pods(k.LeaseNamespace).Get(ctx, host, metav1.GetOptions{}); err == nil {
			pods = []corev1.Pod{*p}
		} else if !apierrors.IsNotFound(err) {
			return Status{}, nil, fmt.Errorf("reading holder pod %s/%s: %w", k.LeaseNamespace, host, err)
		}
	}
	in.Pods = pods
	if in.Nodes, err = discovery.Nodes(ctx, c, discovery.NodeNames(pods)); err != nil {
		return Status{}, nil, err
	}
	in.Now = now()
	return Evaluate(in), pods, nil
}

// GetLease reads the lease, nil when it does not exist.
func GetLease(ctx context.Context, c kubernetes.Interface, ns, name string) (*coordinationv1.Lease, error) {
	l, err := c.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lease %s/%s: %w", ns, name, err)
	}
	return l, nil
}
