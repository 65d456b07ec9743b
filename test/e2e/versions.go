package e2e

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// ResourceVersions records the resourceVersion of every pod, every Deployment and every object of
// the given cluster-scoped resources: what a read-only command must leave as it was.
func ResourceVersions(ctx context.Context, t testing.TB, kube kubernetes.Interface, dyn dynamic.Interface, gvrs ...schema.GroupVersionResource) map[string]string {
	t.Helper()
	rv := map[string]string{}
	pods, err := kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		rv["pod/"+p.Namespace+"/"+p.Name] = p.ResourceVersion
	}
	deps, err := kube.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		rv["deployment/"+d.Namespace+"/"+d.Name] = d.ResourceVersion
	}
	for _, gvr := range gvrs {
		l, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range l.Items {
			rv[gvr.Resource+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return rv
}

// Unchanged fails the test for every object added, removed or changed since before.
func Unchanged(t testing.TB, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed: %s -> %s", k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s appeared", k)
		}
	}
}
