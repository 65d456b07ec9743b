package sandbox

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/karpctl/karpctl/internal/harness"
)

// The embedded CRDs are the ones of the sigs.k8s.io/karpenter the root module pins (which is what
// hack/kube/build.sh builds karpenter-kwok from). Fix a failure with `go generate ./internal/sandbox`.
func TestCRDsMatchModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", "sigs.k8s.io/karpenter").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	version, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		t.Skip("sigs.k8s.io/karpenter is not in the module cache")
	}
	if KarpenterVersion() != version {
		t.Fatalf("embedded CRDs are from %s, go.mod pins %s: run go generate ./internal/sandbox", KarpenterVersion(), version)
	}
	want, _ := filepath.Glob(filepath.Join(dir, "pkg/apis/crds/*.yaml"))
	kwok, _ := filepath.Glob(filepath.Join(dir, "kwok/apis/crds/*.yaml"))
	want = append(want, kwok...)
	entries, _ := CRDs.ReadDir("crds")
	if got := len(entries) - 1; got != len(want) { // - VERSION
		t.Errorf("%d embedded CRDs, the module has %d", got, len(want))
	}
	for _, f := range want {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		emb, err := CRDs.ReadFile("crds/" + filepath.Base(f))
		if err != nil || !bytes.Equal(src, emb) {
			t.Errorf("crds/%s differs from %s (%v): run go generate ./internal/sandbox", filepath.Base(f), f, err)
		}
	}
	objs, err := crdObjects()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	for _, n := range []string{"nodepools.karpenter.sh", "nodeclaims.karpenter.sh", "kwoknodeclasses.karpenter.kwok.sh"} {
		if !strings.Contains(strings.Join(names, " "), n) {
			t.Errorf("CRD %s missing from %v", n, names)
		}
	}
}

// The embedded EC2NodeClass CRD is the one of the github.com/aws/karpenter-provider-aws the root
// module pins. Fix a failure with `go generate ./internal/sandbox`.
func TestAWSCRDMatchesModule(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", "github.com/aws/karpenter-provider-aws").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	version, dir, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	if dir == "" {
		t.Skip("github.com/aws/karpenter-provider-aws is not in the module cache")
	}
	if v, _ := AWSCRDs.ReadFile("crds/aws/VERSION"); strings.TrimSpace(string(v)) != version {
		t.Fatalf("embedded EC2NodeClass CRD is from %s, go.mod pins %s: run go generate ./internal/sandbox", v, version)
	}
	src, err := os.ReadFile(filepath.Join(dir, "pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if emb, err := AWSCRDs.ReadFile("crds/aws/karpenter.k8s.aws_ec2nodeclasses.yaml"); err != nil || !bytes.Equal(src, emb) {
		t.Errorf("crds/aws differs from the module (%v): run go generate ./internal/sandbox", err)
	}
	objs, err := decodeCRDs(AWSCRDs, "crds/aws")
	if err != nil || len(objs) != 1 || objs[0].GetName() != "ec2nodeclasses.karpenter.k8s.aws" {
		t.Errorf("decoded %v, %v", objs, err)
	}
}

func TestGracePeriod(t *testing.T) {
	zero, ten, hour := int64(0), int64(10), int64(3600)
	for _, c := range []struct {
		spec, deletion *int64
		want           time.Duration
	}{
		{nil, nil, 30 * time.Second},
		{&ten, nil, 10 * time.Second},
		{&ten, &zero, 0},
		{nil, &hour, 30 * time.Second}, // capped: the sandbox never waits longer
	} {
		p := &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: c.spec}, ObjectMeta: metav1.ObjectMeta{DeletionGracePeriodSeconds: c.deletion}}
		if got := gracePeriod(p); got != c.want {
			t.Errorf("gracePeriod(spec %v, deletion %v) = %s, want %s", c.spec, c.deletion, got, c.want)
		}
	}
}

// The runner passes the pod's literal env through and owns ports, kubeconfig and namespaces.
func TestProcessEnv(t *testing.T) {
	r := &Runner{env: &harness.Env{Dir: "/sb"}, kubeconfig: "/sb/kubeconfig-karpenter"}
	d := KarpenterDeployment("karpenter", 2, map[string]string{"LOG_LEVEL": "debug", "METRICS_PORT": "9999"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "karpenter", Name: "karpenter-x"}, Spec: d.Spec.Template.Spec}
	env := map[string]string{}
	for _, kv := range r.processEnv(pod, 40001, 40002) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for k, want := range map[string]string{
		"METRICS_PORT": "40001", "HEALTH_PROBE_PORT": "40002", "KUBECONFIG": "/sb/kubeconfig-karpenter",
		"LEADER_ELECTION_NAMESPACE": "karpenter", "SYSTEM_NAMESPACE": "karpenter", "LOG_LEVEL": "debug",
		"KUBECACHEDIR": "/sb/kubecache",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
}

// The hostname trick itself: a process started by Command sees the pod name as its hostname.
func TestCommandSetsHostname(t *testing.T) {
	iso := DetectIsolation()
	if iso == NoIsolation {
		t.Skip("neither root nor unprivileged user namespaces: processes keep the machine's hostname")
	}
	cmd := Command(iso, "karpenter-abc-12345", "/bin/cat")
	cmd.Args = append(cmd.Args, "/proc/sys/kernel/hostname")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "karpenter-abc-12345" {
		t.Fatalf("hostname %q", got)
	}
	host, _ := os.Hostname()
	if host == "karpenter-abc-12345" {
		t.Fatal("the test process's own hostname changed")
	}
}

func TestNodePoolMatchesCatalogZones(t *testing.T) {
	np := NodePoolObject()
	reqs := np.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["requirements"].([]any)
	found := false
	for _, r := range reqs {
		m := r.(map[string]any)
		if m["key"] == corev1.LabelTopologyZone {
			found = len(m["values"].([]any)) == 4
		}
	}
	if !found {
		t.Errorf("NodePool zone requirement does not list the catalog's 4 zones: %v", reqs)
	}
	for i, n := range SystemNodeSpecs() {
		if n.Zone != Zones[i] || len(n.Taints) != 1 || n.Taints[0].Key != "CriticalAddonsOnly" {
			t.Errorf("system node %d: %+v", i, n)
		}
	}
}
