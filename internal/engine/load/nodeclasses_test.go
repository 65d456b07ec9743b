package load

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

func unstructuredNodePool(name, group, kind string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": map[string]any{"name": name},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": map[string]any{"group": group, "kind": kind, "name": "default"},
			"requirements": []any{},
		}}},
	}}
}

var ec2NodeClassObject = &unstructured.Unstructured{Object: map[string]any{
	"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": map[string]any{"name": "default"},
	"spec": map[string]any{"amiSelectorTerms": []any{map[string]any{"alias": "al2023@latest"}},
		"kubelet": map[string]any{"maxPods": int64(110)}},
	"status": map[string]any{"subnets": []any{map[string]any{"id": "subnet-1", "zone": "eu-west-1a", "zoneID": "euw1-az1"}}},
}}

// EC2NodeClasses are listed (read-only, converted with spec and status) only when a NodePool
// references one; a cluster without the AWS provider's CRD is fine.
func TestFromClusterReadsEC2NodeClasses(t *testing.T) {
	kinds := map[schema.GroupVersionResource]string{nodePoolsGVR: "NodePoolList", nodeClaimsGVR: "NodeClaimList", overlaysGVR: "NodeOverlayList", EC2NodeClassesGVR: "EC2NodeClassList"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds,
		unstructuredNodePool("eks", "karpenter.k8s.aws", "EC2NodeClass"), ec2NodeClassObject)
	snap, err := FromCluster(context.Background(), fake.NewClientset(), dyn, ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.EC2NodeClasses) != 1 {
		t.Fatalf("%d EC2NodeClasses", len(snap.EC2NodeClasses))
	}
	nc := snap.EC2NodeClasses[0]
	if nc.Status.Subnets[0].ZoneID != "euw1-az1" || string(nc.Spec.Kubelet["maxPods"].Raw) != "110" || nc.Alias().Family != "AL2023" {
		t.Errorf("EC2NodeClass not converted: %+v", nc)
	}
	for _, a := range dyn.Actions() {
		if a.GetVerb() != "list" {
			t.Errorf("FromCluster did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}

	// kwok NodePools only: no EC2NodeClass list at all.
	dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, unstructuredNodePool("kwok", "karpenter.kwok.sh", "KWOKNodeClass"))
	if _, err := FromCluster(context.Background(), fake.NewClientset(), dyn, ClusterOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, a := range dyn.Actions() {
		if a.GetResource() == EC2NodeClassesGVR {
			t.Errorf("EC2NodeClasses listed without a NodePool referencing one")
		}
	}
	// ... unless a NodePool from -f references one.
	dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, ec2NodeClassObject)
	files, err := Parse("np.yaml", []byte("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: eks}\nspec: {template: {spec: {nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}, requirements: []}}}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err = FromCluster(context.Background(), fake.NewClientset(), dyn, ClusterOptions{FileNodePools: files.NodePools})
	if err != nil || len(snap.EC2NodeClasses) != 1 {
		t.Errorf("EC2NodeClasses for -f NodePools: %v, %d", err, len(snap.EC2NodeClasses))
	}
	// A cluster without the CRD: no EC2NodeClass, no error (the plan warns per NodePool).
	dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, unstructuredNodePool("eks", "karpenter.k8s.aws", "EC2NodeClass"))
	dyn.PrependReactor("list", "ec2nodeclasses", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "karpenter.k8s.aws", Resource: "ec2nodeclasses"}, "")
	})
	if snap, err := FromCluster(context.Background(), fake.NewClientset(), dyn, ClusterOptions{}); err != nil || len(snap.EC2NodeClasses) != 0 {
		t.Errorf("without the CRD: %v", err)
	}
	// Forbidden is an error naming the permission.
	dyn = dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, unstructuredNodePool("eks", "karpenter.k8s.aws", "EC2NodeClass"))
	dyn.PrependReactor("list", "ec2nodeclasses", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "karpenter.k8s.aws", Resource: "ec2nodeclasses"}, "", nil)
	})
	if _, err := FromCluster(context.Background(), fake.NewClientset(), dyn, ClusterOptions{}); err == nil || !strings.Contains(err.Error(), "grant list on ec2nodeclasses.karpenter.k8s.aws") {
		t.Errorf("forbidden: %v", err)
	}
}

func TestNodeClassesReadsLittle(t *testing.T) {
	kinds := map[schema.GroupVersionResource]string{nodePoolsGVR: "NodePoolList", EC2NodeClassesGVR: "EC2NodeClassList", overlaysGVR: "NodeOverlayList"}
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kinds, unstructuredNodePool("eks", "karpenter.k8s.aws", "EC2NodeClass"), ec2NodeClassObject)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{corev1.LabelTopologyRegion: "eu-west-1"}}}
	kube := fake.NewClientset(node, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "a"}})
	snap, err := NodeClasses(context.Background(), kube, dyn, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.NodePools) != 1 || len(snap.EC2NodeClasses) != 1 || len(snap.Nodes) != 1 || len(snap.Pods)+len(snap.PendingPods) != 0 || !snap.Live {
		t.Errorf("snapshot %+v", snap)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() != "list" || a.GetResource().Resource != "nodes" {
			t.Errorf("NodeClasses did %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
	var listed []string
	for _, a := range dyn.Actions() {
		listed = append(listed, a.GetVerb()+" "+a.GetResource().Resource)
	}
	if strings.Join(listed, ",") != "list nodepools,list ec2nodeclasses,list nodeoverlays" {
		t.Errorf("NodeClasses asked %v", listed)
	}
}

// EC2NodeClasses in files are kept and decoded strictly; other providers' NodeClasses are ignored.
func TestFilesEC2NodeClass(t *testing.T) {
	doc := "apiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata: {name: default}\nspec:\n  amiSelectorTerms: [{alias: bottlerocket@latest}]\n  blockDeviceMappings: [{deviceName: /dev/xvda, ebs: {volumeSize: 100Gi}}]\n"
	snap, err := Parse("nc.yaml", []byte(doc+"---\napiVersion: karpenter.k8s.gcp/v1\nkind: GCENodeClass\nmetadata: {name: x}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.EC2NodeClasses) != 1 || snap.EC2NodeClasses[0].AMIFamily() != "Bottlerocket" || snap.EC2NodeClasses[0].Spec.BlockDeviceMappings[0].EBS.VolumeSize.String() != "100Gi" {
		t.Errorf("EC2NodeClasses %+v", snap.EC2NodeClasses)
	}
	for _, c := range []struct{ doc, want string }{
		{strings.Replace(doc, "amiSelectorTerms", "amiSelectorTerm", 1), `EC2NodeClass: json: unknown field "amiSelectorTerm"`},
		{strings.Replace(doc, "karpenter.k8s.aws/v1", "karpenter.k8s.aws/v1beta1", 1), "karpenter.k8s.aws/v1beta1 EC2NodeClass is not supported"},
		{doc + "---\n" + doc, "duplicate EC2NodeClass default"},
	} {
		if _, err := Parse("nc.yaml", []byte(c.doc), Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}
