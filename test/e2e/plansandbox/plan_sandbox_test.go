// End-to-end comparison of `kubectl karpctl plan` with the real Karpenter v1.15.0 (kwok build) of the
// sandbox: the plan for a Deployment before it is applied, then the NodeClaims Karpenter creates for it.
package plansandbox

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/engine/catalog"
	"github.com/karpctl/karpctl/internal/sandbox"
	"github.com/karpctl/karpctl/test/e2e"
)

var sb *sandbox.Sandbox

func TestMain(m *testing.M) { os.Exit(sandbox.Main(m, sandbox.Options{}, &sb)) }

// The plan for "what if I apply this Deployment?" matches what Karpenter then launches: the same
// number of NodeClaims from the same NodePool, each real zone allowed by its planned claim, and the
// real instance type is the cheapest of the plan's options (same type and price as planned).
func TestPlanMatchesRealKarpenter(t *testing.T) {
	sandbox.Need(t, sb)
	ctx := e2e.Context(t, 4*time.Minute)
	if err := sb.BusyAndEmpty(ctx); err != nil { // NodePool "existing": a busy and an empty node
		t.Fatal(err)
	}

	// Three 2-CPU replicas, one per host: three NodeClaims.
	// They select the sandbox's NodePool: other NodePools' nodes (BusyAndEmpty, other tests') are there
	// to be planned around, not onto.
	d := sandbox.Workload{Namespace: "default", Name: "planned", Replicas: 3, CPU: "2", Memory: "1Gi",
		NodeSelector: map[string]string{"karpenter.sh/nodepool": sb.NodePool}}.Deployment()
	d.TypeMeta = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	d.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
			TopologyKey: corev1.LabelHostname, LabelSelector: d.Spec.Selector,
		}},
	}}
	manifest, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "planned.yaml")
	if err := os.WriteFile(file, manifest, 0o644); err != nil {
		t.Fatal(err)
	}

	r := e2e.Karpctl(ctx, t, sb.Kubeconfig(), "plan", "--dry-run", "-n", "default", "-f", file, "-o", "json")
	if r.Code != cli.ExitOK {
		t.Fatalf("plan: exit %d: %s", r.Code, r.Stderr)
	}
	var rep engine.PlanReport
	r.Decode(t, &rep)
	if rep.Result == nil {
		t.Fatalf("plan output has no result:\n%s", r.Stdout)
	}
	for _, q := range r.Requests {
		if !strings.HasPrefix(q, "GET ") {
			t.Errorf("plan sent %s", q)
		}
	}
	var planned []engine.NodeClaimPlan
	for _, np := range rep.NodePools {
		for _, nc := range np.NodeClaims {
			if np.Name != sb.NodePool {
				t.Errorf("planned NodePool %s, the sandbox has %s", np.Name, sb.NodePool)
			}
			planned = append(planned, nc)
		}
	}

	// Now apply it for real and let Karpenter provision.
	if _, err := sb.Env.Client.AppsV1().Deployments(d.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = sb.Env.Client.AppsV1().Deployments(d.Namespace).Delete(context.Background(), d.Name, metav1.DeleteOptions{})
	}()
	all, err := sb.WaitForProvisioned(ctx, d.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	var real []sandbox.NodeClaim // the other NodePools' NodeClaims are not this plan's
	for _, nc := range all {
		if nc.NodePool == sb.NodePool {
			real = append(real, nc)
		}
	}
	t.Logf("plan: %d NodeClaims; Karpenter: %+v", len(planned), real)
	if len(real) != len(planned) || len(planned) != 3 {
		if pods, err := sb.Env.Client.CoreV1().Pods(d.Namespace).List(ctx, metav1.ListOptions{}); err == nil {
			for _, p := range pods.Items {
				t.Logf("pod %s on node %q, phase %s", p.Name, p.Spec.NodeName, p.Status.Phase)
			}
		}
		t.Fatalf("Karpenter created %d NodeClaims, the plan said %d (want 3)", len(real), len(planned))
	}

	cat, err := catalog.Named(catalog.Kwok)
	if err != nil {
		t.Fatal(err)
	}
	priceOf := func(it, zone, ct string) float64 {
		for _, x := range cat.InstanceTypes {
			if x.Name == it {
				for _, o := range x.Offerings {
					if o.Zone == zone && o.CapacityType == ct {
						return o.Price
					}
				}
			}
		}
		return -1
	}
	sort.Slice(real, func(i, j int) bool { return real[i].InstanceType+real[i].Zone < real[j].InstanceType+real[j].Zone })
	sort.Slice(planned, func(i, j int) bool {
		return planned[i].InstanceType+planned[i].Zone < planned[j].InstanceType+planned[j].Zone
	})
	for i, nc := range real {
		p := planned[i]
		if nc.NodePool != sb.NodePool {
			t.Errorf("%s: NodePool %s", nc.Name, nc.NodePool)
		}
		if !contains(p.Zones, nc.Zone) {
			t.Errorf("%s: zone %s is not among the planned claim's zones %v", nc.Name, nc.Zone, p.Zones)
		}
		if nc.InstanceType != p.InstanceType {
			t.Errorf("%s: Karpenter launched %s, the plan's cheapest option is %s", nc.Name, nc.InstanceType, p.InstanceType)
		}
		if got := priceOf(nc.InstanceType, nc.Zone, nc.CapacityType); got != p.PricePerHour {
			t.Errorf("%s: launched %s %s in %s at $%v/h, planned $%v/h (%s %s)", nc.Name, nc.InstanceType, nc.CapacityType, nc.Zone, got, p.PricePerHour, p.InstanceType, p.CapacityType)
		}
		if !contains(nc.Options, p.InstanceType) || len(nc.Options) != p.OtherInstanceTypes+1 {
			t.Errorf("%s: the real NodeClaim allows %d instance types %v, the plan %s and %d others", nc.Name, len(nc.Options), nc.Options, p.InstanceType, p.OtherInstanceTypes)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
