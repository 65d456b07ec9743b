package commands

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/explain"
)

func explainJSON(t *testing.T, args ...string) (int, explain.Report, string) {
	t.Helper()
	code, out, errOut := run(t, "kubectl-karpctl", append([]string{"explain", "-o", "json"}, args...)...)
	var r explain.Report
	if code == cli.ExitOK || code == cli.ExitUnhealthy {
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.PodExplanation == nil {
			t.Fatalf("exit %d, stdout is not an explanation (%v):\n%s\nstderr: %s", code, err, out, errOut)
		}
	}
	return code, r, errOut
}

func TestExplainOfflineLimitAndArchitecture(t *testing.T) {
	file := filepath.Join("testdata", "explain", "limit-and-arch.yaml")
	code, r, errOut := explainJSON(t, "--offline", "-f", file)
	if code != cli.ExitUnhealthy || r.Outcome.Kind != explain.OutcomeUnschedulable || !strings.Contains(errOut, "default/big stays pending") {
		t.Fatalf("exit %d, outcome %+v, stderr %q", code, r.Outcome, errOut)
	}
	if len(r.NodePools) != 2 || r.NodePools[0].Name != "arm" || r.NodePools[1].Reasons[0].Kind != explain.Limit {
		t.Fatalf("nodePools %+v", r.NodePools)
	}
	code, out, _ := run(t, "kubectl-karpctl", "explain", "pod", "big", "--offline", "-f", file)
	for _, want := range []string{"arm (weight 10)  BLOCKED", "Requirement: the pod requires kubernetes.io/arch In [amd64]",
		"change: allow kubernetes.io/arch amd64 in the NodePool", "general (weight 0)  BLOCKED", "change: raise limits.cpu to ≥ 16"} {
		if !strings.Contains(out, want) {
			t.Errorf("exit %d, table lacks %q:\n%s", code, want, out)
		}
	}
}

func TestExplainPlacedExits0(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": planNodePool + "---\n" + planDeployment("web", 2, "1")})
	code, r, errOut := explainJSON(t, "--offline", "-f", dir, "deployment", "web", "-n", "shop")
	if code != cli.ExitOK || r.Outcome.Kind != explain.OutcomeNewNodeClaim || r.InstanceTypes == nil || len(r.InstanceTypes.Compatible) == 0 {
		t.Fatalf("exit %d, %+v, stderr %q", code, r.PodExplanation, errOut)
	}
	if r.Pod != "shop/web-0" || len(r.Outcome.SharedWith) != 0 {
		t.Errorf("want replica web-0 on a NodeClaim of its own (hostname anti-affinity): %+v", r.Outcome)
	}
}

func TestExplainInputErrorsExit2WithOneLine(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": planNodePool, "pod.yaml": planDeployment("web", 1, "1")})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--offline", "-f", dir, "pod", "web", "-n", "shop"}, "pod web not found in namespace shop"},
		{[]string{"--offline", "-f", dir, "pod", "nope", "-n", "shop"}, "pod nope not found in namespace shop"},
		{[]string{"--offline", "-f", dir, "deployment", "nope"}, "deployment nope not found in namespace default"},
		{[]string{"--offline", "-f", dir, "cronjob", "x"}, "unknown kind"},
		{[]string{"--offline", "-f", dir, "big"}, "give the kind and the name"},
		{[]string{}, "needs a TARGET"},
		{[]string{"--offline", "-f", filepath.Join(dir, "all.yaml")}, "no pending pod in the files"},
	} {
		code, _, errOut := run(t, "kubectl-karpctl", append([]string{"explain"}, tc.args...)...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want one line with %q)", tc.args, code, errOut, tc.want)
		}
	}
}

// explain runs with the cluster's Karpenter settings, as plan does: unmeetable minValues block the
// NodePool under Strict (a MinValues reason) and not under BestEffort.
func TestExplainUsesKarpenterSettings(t *testing.T) {
	pool := `apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: wide}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: Exists, minValues: 500}
`
	dir := writeFiles(t, map[string]string{"all.yaml": pool + "---\n" + planDeployment("web", 1, "1")})
	code, r, _ := explainJSON(t, "--offline", "-f", dir, "deployment", "web", "-n", "shop")
	if code != cli.ExitUnhealthy || len(r.NodePools) != 1 || len(r.NodePools[0].Reasons) != 1 || r.NodePools[0].Reasons[0].Kind != explain.MinValues {
		t.Fatalf("Strict: exit %d, nodePools %+v", code, r.NodePools)
	}
	code, r, _ = explainJSON(t, "--offline", "-f", dir, "deployment", "web", "-n", "shop", "--karpenter-setting", "MIN_VALUES_POLICY=BestEffort")
	if code != cli.ExitOK || r.Outcome.Kind != explain.OutcomeNewNodeClaim || r.KarpenterSettings == nil {
		t.Fatalf("BestEffort: exit %d, outcome %+v", code, r.Outcome)
	}
}

// The only NodePool's EC2NodeClass says Ready=False: the pod stays pending (exit 3), and the reason
// is the NodeClass, named with its condition — not "no usable NodePool" as bad input.
func TestExplainNodeClassNotReadyExits3(t *testing.T) {
	notReady := eksManifests + `  conditions:
    - {type: Ready, status: "False", reason: SubnetsNotFound, message: SubnetSelector did not match any Subnets, lastTransitionTime: "2026-01-01T00:00:00Z"}
`
	dir := writeFiles(t, map[string]string{"eks.yaml": notReady, "pod.yaml": planDeployment("web", 1, "1")})
	code, r, errOut := explainJSON(t, "--offline", "-f", dir, "deployment", "web", "-n", "shop")
	if code != cli.ExitUnhealthy || r.Placed() || len(r.NodePools) != 1 {
		t.Fatalf("exit %d, %+v, stderr %q", code, r.PodExplanation, errOut)
	}
	v := r.NodePools[0]
	if v.Name != "eks" || v.Verdict != explain.VerdictSkipped || len(v.Reasons) != 1 || v.Reasons[0].Kind != explain.NodeClass ||
		v.Reasons[0].NodeClass == nil || v.Reasons[0].NodeClass.Reason != "SubnetsNotFound" {
		t.Fatalf("eks %+v", v)
	}
	code, out, _ := run(t, "kubectl-karpctl", "explain", "--offline", "-f", dir, "deployment", "web", "-n", "shop")
	for _, want := range []string{"eks (weight 0)  SKIPPED", "NodeClass: its NodeClass EC2NodeClass/eks is not Ready (NodeClassReady=False, SubnetsNotFound",
		"change: make EC2NodeClass eks Ready"} {
		if !strings.Contains(out, want) {
			t.Errorf("exit %d, table lacks %q:\n%s", code, want, out)
		}
	}
}
