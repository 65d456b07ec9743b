package commands

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/engine"
)

// instanceTypesList runs instance-types -o json and decodes the list.
func instanceTypesList(t *testing.T, args ...string) engine.InstanceTypeList {
	t.Helper()
	code, out, errOut := run(t, "kubectl-karpctl", append([]string{"instance-types", "-o", "json"}, args...)...)
	var l engine.InstanceTypeList
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &l) != nil {
		t.Fatalf("%v: exit %d %s", args, code, errOut)
	}
	return l
}

// Offline, files with only an EC2NodeClass list its instance types; no files and --region list
// every type of the region for the default EC2NodeClass, in every zone, with the warning that says so.
func TestInstanceTypesOfflineNodeClassOnly(t *testing.T) {
	_, nodeClass, _ := strings.Cut(eksManifests, "---\n")
	dir := writeFiles(t, map[string]string{"nodeclass.yaml": nodeClass})
	l := instanceTypesList(t, "--offline", "-f", dir)
	if l.NodePool != "" || l.NodeClass != "EC2NodeClass/eks" || l.Region != "eu-west-1" || len(l.InstanceTypes) < 1000 {
		t.Errorf("only the EC2NodeClass: nodepool %q nodeclass %q region %q, %d types", l.NodePool, l.NodeClass, l.Region, len(l.InstanceTypes))
	}

	l = instanceTypesList(t, "--offline", "--region", "us-east-1")
	names := map[string]bool{}
	for _, it := range l.InstanceTypes {
		names[it.Name] = true
	}
	if l.NodeClass != "EC2NodeClass/default" || l.Region != "us-east-1" || len(l.InstanceTypes) < 1345 || !names["c8a.medium"] || !names["m5.large"] {
		t.Errorf("no files: nodeclass %q region %q, %d types", l.NodeClass, l.Region, len(l.InstanceTypes))
	}
	if !warnedText(l.Warnings, "has no subnets in its status: planning for every zone of us-east-1") {
		t.Errorf("no warning about the zones: %+v", l.Warnings)
	}
	if code, _, errOut := run(t, "kubectl-karpctl", "instance-types", "--offline"); code != cli.ExitUsage || !strings.Contains(errOut, "--offline needs -f FILE|DIR|- or --region REGION") {
		t.Errorf("--offline alone: exit %d %q", code, errOut)
	}
}
