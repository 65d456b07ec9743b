// End-to-end tests of plan and instance-types with EKS-style NodePools on a real kube-apiserver:
// Karpenter's CRDs and the AWS provider's EC2NodeClass CRD installed, EC2NodeClasses whose status is
// written through the status subresource, and a kwok NodePool beside them.
package eks

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var env *harness.Env

func TestMain(m *testing.M) { os.Exit(harness.Main(m, harness.Options{}, &env)) }

var (
	sceneOnce sync.Once
	sceneErr  error
	dyn       dynamic.Interface
)

// The EKS-style NodePool of the issue: EC2NodeClass, AL2023, c/m/r, generation > 4, on-demand, amd64.
var eksRequirements = []any{
	req("karpenter.k8s.aws/instance-category", "In", "c", "m", "r"),
	req("karpenter.k8s.aws/instance-generation", "Gt", "4"),
	req("karpenter.sh/capacity-type", "In", "on-demand"),
	req("kubernetes.io/arch", "In", "amd64"),
}

func req(key, op string, values ...string) any {
	vs := make([]any, len(values))
	for i, v := range values {
		vs[i] = v
	}
	return map[string]any{"key": key, "operator": op, "values": vs}
}

// scene: NodePool eks (EC2NodeClass eks, subnets in eu-west-1a/b, Ready), NodePool kwok
// (KWOKNodeClass), NodePool broken (EC2NodeClass broken, Ready=False), NodePool orphan (EC2NodeClass
// that does not exist); two pending pods for eks and one for kwok.
func scene(ctx context.Context, t *testing.T) {
	t.Helper()
	harness.Need(t, env)
	sceneOnce.Do(func() { sceneErr = buildScene(ctx, t) })
	if sceneErr != nil {
		t.Fatal(sceneErr)
	}
}

func buildScene(ctx context.Context, t *testing.T) error {
	var err error
	if dyn, err = dynamic.NewForConfig(env.Config); err != nil {
		return err
	}
	if err := sandbox.InstallCRDs(ctx, dyn); err != nil {
		return err
	}
	if err := sandbox.InstallAWSCRDs(ctx, dyn); err != nil {
		return err
	}
	if _, err := dyn.Resource(sandbox.NodeClassResource).Create(ctx, sandbox.NodeClassObject(), metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := createEC2NodeClass(ctx, "eks", "True", "eu-west-1a", "eu-west-1b"); err != nil {
		return err
	}
	if err := createEC2NodeClass(ctx, "broken", "False", "eu-west-1a"); err != nil {
		return err
	}
	ec2 := func(name string) map[string]any {
		return map[string]any{"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}
	}
	for _, np := range []struct {
		name string
		ref  map[string]any
		reqs []any
	}{
		{"eks", ec2("eks"), eksRequirements},
		{"broken", ec2("broken"), eksRequirements},
		{"orphan", ec2("nope"), eksRequirements},
		{"kwok", map[string]any{"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": sandbox.NodeClassName},
			[]any{req("karpenter.sh/capacity-type", "In", "on-demand")}},
	} {
		if err := createNodePool(ctx, np.name, np.ref, np.reqs); err != nil {
			return err
		}
	}
	b := harness.NewBuilder(env.Client)
	b.Namespace(ctx, t, "shop")
	for _, p := range []struct{ name, pool string }{{"web-0", "eks"}, {"web-1", "eks"}, {"sim-0", "kwok"}} {
		if err := createPod(ctx, p.name, p.pool); err != nil {
			return err
		}
	}
	return nil
}

// createEC2NodeClass creates an EC2NodeClass and writes its status through the status subresource,
// as Karpenter's controller would: the subnets and the Ready condition.
func createEC2NodeClass(ctx context.Context, name, ready string, zones ...string) error {
	nc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"role":                       "KarpenterNodeRole-demo",
			"amiSelectorTerms":           []any{map[string]any{"alias": "al2023@latest"}},
			"subnetSelectorTerms":        []any{map[string]any{"tags": map[string]any{"karpenter.sh/discovery": "demo"}}},
			"securityGroupSelectorTerms": []any{map[string]any{"tags": map[string]any{"karpenter.sh/discovery": "demo"}}},
		},
	}}
	got, err := dyn.Resource(sandbox.EC2NodeClassResource).Create(ctx, nc, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	var subnets []any
	for i, z := range zones {
		subnets = append(subnets, map[string]any{"id": "subnet-" + z, "zone": z, "zoneID": "euw1-az" + string(rune('1'+i))})
	}
	reason, message := "Ready", ""
	if ready != "True" {
		reason, message = "SubnetsNotFound", "SubnetSelector did not match any Subnets"
	}
	got.Object["status"] = map[string]any{
		"subnets":    subnets,
		"conditions": []any{condition("Ready", ready, reason, message, got.GetGeneration())},
	}
	_, err = dyn.Resource(sandbox.EC2NodeClassResource).UpdateStatus(ctx, got, metav1.UpdateOptions{})
	return err
}

func condition(typ, status, reason, message string, generation int64) any {
	return map[string]any{"type": typ, "status": status, "reason": reason, "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": generation}
}

func createNodePool(ctx context.Context, name string, ref map[string]any, reqs []any) error {
	np := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"nodeClassRef": ref, "requirements": reqs,
		}}},
	}}
	got, err := dyn.Resource(sandbox.NodePoolResource).Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	g := got.GetGeneration()
	got.Object["status"] = map[string]any{"conditions": []any{
		condition("Ready", "True", "Ready", "", g), condition("ValidationSucceeded", "True", "ValidationSucceeded", "", g),
		condition("NodeClassReady", "True", "NodeClassReady", "", g)}}
	_, err = dyn.Resource(sandbox.NodePoolResource).UpdateStatus(ctx, got, metav1.UpdateOptions{})
	return err
}

func createPod(ctx context.Context, name, pool string) error {
	no := false
	_, err := env.Client.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no,
			NodeSelector:                 map[string]string{"karpenter.sh/nodepool": pool},
			Containers: []corev1.Container{{Name: "app", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			}}},
		},
	}, metav1.CreateOptions{})
	return err
}

func versions(ctx context.Context, t *testing.T) map[string]string {
	t.Helper()
	return e2e.ResourceVersions(ctx, t, env.Client, dyn, sandbox.NodePoolResource, sandbox.NodeClaimResource, sandbox.NodeClassResource, sandbox.EC2NodeClassResource)
}

func warned(ws []engine.Warning, nodePool, text string) bool {
	for _, w := range ws {
		if w.NodePool == nodePool && strings.Contains(w.Message, text) {
			return true
		}
	}
	return false
}

// The EKS-style NodePool plans live without --catalog: its NodeClaims in the subnets' zones at
// eu-west-1's on-demand price (the one instance-types reports for the same type), the kwok NodePool
// beside it on kwok's catalog, the not-Ready and missing EC2NodeClasses warned as Karpenter's status
// would say; only GETs are sent and nothing changes.
func TestPlanLiveEKS(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	before := versions(ctx, t)

	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "-n", "shop", "-o", "json")
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if r.Code != cli.ExitOK || rep.Result == nil {
		t.Fatalf("exit %d: %s\n%s", r.Code, r.Stderr, r.Stdout)
	}
	r.OnlyReads(t)
	t.Logf("%d requests: %s", len(r.Requests), strings.Join(r.Requests, "\n"))
	if rep.Region != "eu-west-1" || rep.AWSData == nil || rep.Catalog != "aws, kwok" || rep.Totals.PodsOnNewNodes != 3 {
		t.Errorf("region %q, catalog %q, awsData %v, totals %+v", rep.Region, rep.Catalog, rep.AWSData, rep.Totals)
	}
	if !warned(rep.Warnings, "broken", "EC2NodeClass broken: NodeClassReady=False, SubnetsNotFound: SubnetSelector did not match any Subnets") ||
		!warned(rep.Warnings, "orphan", "EC2NodeClass nope: NodeClassReady=False, NodeClassNotFound: NodeClass not found on cluster") {
		t.Errorf("warnings %+v", rep.Warnings)
	}
	var eks *engine.NodeClaimPlan
	for _, np := range rep.NodePools {
		for i, nc := range np.NodeClaims {
			switch np.Name {
			case "eks":
				eks = &np.NodeClaims[i]
				if strings.Join(nc.Zones, ",") != "eu-west-1a,eu-west-1b" || nc.CapacityType != "on-demand" || np.Catalog != "aws" {
					t.Errorf("eks claim %+v", nc)
				}
			case "kwok":
				if !strings.HasPrefix(nc.Zone, "test-zone-") || np.Catalog != "kwok" {
					t.Errorf("kwok claim %+v", nc)
				}
			default:
				t.Errorf("claim of NodePool %s", np.Name)
			}
		}
	}
	if eks == nil {
		t.Fatalf("no eks claim: %+v", rep.NodePools)
	}

	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodepool", "eks", "-o", "json")
	var l engine.InstanceTypeList
	r.Decode(t, &l)
	if r.Code != cli.ExitOK || l.Region != "eu-west-1" || len(l.InstanceTypes) == 0 {
		t.Fatalf("instance-types: exit %d %s, %+v", r.Code, r.Stderr, l.NodeClass)
	}
	r.OnlyReads(t)
	t.Logf("instance-types: %d requests, %d types", len(r.Requests), len(l.InstanceTypes))
	found := false
	for _, it := range l.InstanceTypes {
		lb := it.Labels
		gen, _ := strconv.Atoi(lb["karpenter.k8s.aws/instance-generation"])
		if cat := lb["karpenter.k8s.aws/instance-category"]; (cat != "c" && cat != "m" && cat != "r") || lb["kubernetes.io/arch"] != "amd64" || gen <= 4 {
			t.Errorf("%s outside the NodePool's requirements: %v", it.Name, lb)
		}
		for _, o := range it.Offerings {
			if o.CapacityType != "on-demand" {
				t.Errorf("%s: offering %+v", it.Name, o)
			}
			if it.Name == eks.InstanceType && o.Zone == eks.Zone && o.Price == eks.PricePerHour {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("plan's %s in %s at $%v is not an on-demand offering instance-types reports", eks.InstanceType, eks.Zone, eks.PricePerHour)
	}
	e2e.Unchanged(t, before, versions(ctx, t))
}

// instance-types on the kwok catalog and by NodeClass; bad input exits 2 with one line.
func TestInstanceTypesLive(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodepool", "kwok", "--requests", "cpu=3,memory=1Gi")
	if r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "instance types kwok") || !strings.Contains(r.Stdout, "FITS") {
		t.Errorf("kwok: exit %d %s\n%s", r.Code, r.Stderr, r.Stdout)
	}
	r.OnlyReads(t)
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodeclass", "eks", "-o", "wide")
	if r.Code != cli.ExitOK || !strings.Contains(r.Stdout, "m5.large") || !strings.Contains(r.Stdout, "spot prices are estimates") {
		t.Errorf("nodeclass: exit %d %s\n%.2000s", r.Code, r.Stderr, r.Stdout)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodeclass", "broken")
	if r.Code != cli.ExitUnhealthy || !strings.Contains(r.Stderr, "SubnetsNotFound") {
		t.Errorf("not Ready: exit %d %q", r.Code, r.Stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"instance-types"}, "give --nodepool NAME or --nodeclass NAME (NodePools: broken, eks, kwok, orphan)"},
		{[]string{"instance-types", "--nodepool", "nope"}, `NodePool "nope"`},
		{[]string{"plan", "--region", "mars-1"}, `--region "mars-1" is not a region karpctl has AWS prices for (known: `},
		{[]string{"plan", "-n", "shop", "--region", "us-east-1"}, "--region us-east-1 contradicts the EC2NodeClasses' subnets, which say eu-west-1"},
	} {
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, c.args...)
		if r.Code != cli.ExitUsage || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("%v: exit %d %q, want one line with %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
}

// Live, a DaemonSet's pods take room on a new node: m5.large (1930m allocatable) has room for a pod
// of 1 CPU until a DaemonSet requesting 1 CPU runs on every node; the DaemonSets are listed only
// when --requests or --pod asks for fits.
func TestInstanceTypesLiveDaemonSets(t *testing.T) {
	ctx := e2e.Context(t, 2*time.Minute)
	scene(ctx, t)
	fitsM5 := func() bool {
		t.Helper()
		r := e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodepool", "eks", "--requests", "cpu=1,memory=1Gi", "-o", "json")
		var l engine.InstanceTypeList
		r.Decode(t, &l)
		if r.Code != cli.ExitOK {
			t.Fatalf("exit %d %s", r.Code, r.Stderr)
		}
		r.OnlyReads(t)
		if !slices.ContainsFunc(r.Requests, func(s string) bool { return strings.Contains(s, "/apis/apps/v1/daemonsets") }) {
			t.Errorf("DaemonSets not listed: %v", r.Requests)
		}
		for _, it := range l.InstanceTypes {
			if it.Name == "m5.large" {
				return it.Fits != nil && *it.Fits
			}
		}
		t.Fatal("no m5.large")
		return false
	}
	if !fitsM5() {
		t.Error("without DaemonSets a pod of 1 CPU has no room on m5.large")
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: "shop"}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "node-agent"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "node-agent"}}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "agent", Image: "registry.k8s.io/pause:3.10", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}}}}},
	}}
	if _, err := env.Client.AppsV1().DaemonSets("shop").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = env.Client.AppsV1().DaemonSets("shop").Delete(context.Background(), ds.Name, metav1.DeleteOptions{})
	})
	if fitsM5() {
		t.Error("with a DaemonSet of 1 CPU on every node, a pod of 1 CPU still fits m5.large")
	}
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--nodepool", "eks")
	if slices.ContainsFunc(r.Requests, func(s string) bool { return strings.Contains(s, "daemonsets") }) {
		t.Errorf("DaemonSets listed without --requests: %v", r.Requests)
	}
}

// Offline, the same NodePool and an EC2NodeClass with subnets in us-east-1 plan at us-east-1's price;
// without status, --region gives every zone of the region, with a warning.
func TestPlanOfflineUSEast1(t *testing.T) {
	ctx := e2e.Context(t, time.Minute)
	harness.Need(t, env)
	dir := t.TempDir()
	// The commands tests' EKS-style NodePool and EC2NodeClass, moved to us-east-1, and a pod.
	b, err := os.ReadFile("../../../internal/commands/testdata/eks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eks, _, _ := strings.Cut(string(b), "status:")
	manifest := eks + "STATUS\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n" +
		"spec:\n  containers: [{name: web, image: nginx, resources: {requests: {cpu: \"1\", memory: 1Gi}}}]\n"
	write := func(name, status string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Replace(manifest, "STATUS", status, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withStatus := write("status.yaml", "status:\n  subnets: [{id: subnet-1, zone: us-east-1a, zoneID: use1-az1}, {id: subnet-2, zone: us-east-1b, zoneID: use1-az2}]")
	r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "--offline", "-f", withStatus, "-o", "json")
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if r.Code != cli.ExitOK || rep.Region != "us-east-1" || len(rep.NodePools) != 1 || len(rep.NodePools[0].NodeClaims) != 1 {
		t.Fatalf("exit %d %s: %+v", r.Code, r.Stderr, rep.Result)
	}
	nc := rep.NodePools[0].NodeClaims[0]
	if strings.Join(nc.Zones, ",") != "us-east-1a,us-east-1b" {
		t.Errorf("claim %+v", nc)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "instance-types", "--offline", "-f", withStatus, "--nodepool", "eks", "-o", "json")
	var l engine.InstanceTypeList
	r.Decode(t, &l)
	for _, it := range l.InstanceTypes {
		if it.Name == nc.InstanceType && it.Price != nc.PricePerHour {
			t.Errorf("%s: plan $%v, instance-types $%v", it.Name, nc.PricePerHour, it.Price)
		}
	}

	noStatus := write("nostatus.yaml", "")
	if r := e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "--offline", "-f", noStatus); r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, "give --region") {
		t.Errorf("no region: exit %d %q", r.Code, r.Stderr)
	}
	r = e2e.Karpctl(ctx, t, env.Kubeconfig, "plan", "--offline", "-f", noStatus, "--region", "us-east-1", "-o", "json")
	r.Decode(t, &rep)
	if r.Code != cli.ExitOK || rep.Region != "us-east-1" || !warned(rep.Warnings, "", "has no subnets in its status: planning for every zone of us-east-1") {
		t.Errorf("without status: exit %d %s, warnings %+v", r.Code, r.Stderr, rep.Warnings)
	}
}
