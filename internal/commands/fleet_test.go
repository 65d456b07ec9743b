package commands

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/karpctl/karpctl/internal/cli"
)

// fleetKubeconfig writes a kubeconfig whose contexts all point at a closed loopback port: any
// request would fail with exit 1, so an exit 2 proves nothing was sent.
func fleetKubeconfig(t *testing.T, contexts ...string) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["closed"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1"}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "t"}
	for _, c := range contexts {
		cfg.Contexts[c] = &clientcmdapi.Context{Cluster: "closed", AuthInfo: "u"}
	}
	cfg.CurrentContext = contexts[0]
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFleetUsageErrors(t *testing.T) {
	kc := fleetKubeconfig(t, "prod-us", "prod-eu", "staging")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lease", "--contexts", "prod-us,qa"}, `--contexts: no context "qa" in the kubeconfig; known contexts: prod-eu, prod-us, staging`},
		{[]string{"health", "--contexts", "prod-us", "--context", "staging"}, "--context and --contexts do not go together"},
		{[]string{"version", "--all-contexts", "--context", "staging"}, "--context and --all-contexts do not go together"},
		{[]string{"audit-topology", "--context-selector", "^qa"}, `--context-selector "^qa" matches no context; known contexts: prod-eu, prod-us, staging`},
		{[]string{"audit-topology", "--context-selector", "(", "--all-contexts"}, "not a regular expression"},
		{[]string{"lease", "--contexts", "prod-us", "--all-contexts"}, "use one or the other"},
		{[]string{"lease", "--contexts", "prod-us", "--watch"}, "--watch does not go with --contexts"},
		{[]string{"lease", "--all-contexts", "--serve", ":0"}, "--serve does not go with --all-contexts"},
		{[]string{"audit-topology", "--contexts", "prod-us", "-f", "x.yaml"}, "--filename does not go with --contexts"},
		{[]string{"version", "--contexts", "prod-us", "--client"}, "--client does not go with --contexts"},
		{[]string{"health", "--contexts", "prod-us", "--server", "https://127.0.0.1:2"}, "--server does not go with --contexts"},
		{[]string{"health", "--contexts", "prod-us", "--parallel", "0"}, "--parallel 0: want at least 1"},
		{[]string{"health", "--parallel", "4"}, "--parallel needs --contexts"},
		{[]string{"lease", "--contexts", ""}, "no contexts selected: give --contexts a,b,c"},
		{[]string{"lease", "--contexts", "prod-us,,staging"}, "--contexts has an empty name"},
		{[]string{"plan", "--contexts", "prod-us"}, "kubectl karpctl plan works on one cluster at a time, by design: --contexts is for lease, health, audit-topology and version; choose the cluster with --context NAME"},
		{[]string{"drill", "leader-kill", "--all-contexts"}, "kubectl karpctl drill leader-kill works on one cluster at a time, by design: --all-contexts"},
		{[]string{"drill", "zone-outage", "zone-a", "--context-selector=prod"}, "drill zone-outage works on one cluster at a time"},
		{[]string{"drill", "restore", "--contexts", "prod-us"}, "drill restore works on one cluster at a time"},
		{[]string{"alerts", "--contexts", "prod-us"}, "alerts works on one cluster at a time"},
		{[]string{"disrupt", "--all-contexts"}, "disrupt works on one cluster at a time"},
	} {
		code, out, errOut := run(t, "kubectl-karpctl", append(tc.args, "--kubeconfig", kc)...)
		if code != cli.ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q", tc.args, code, out, errOut, tc.want)
		}
	}
	code, _, errOut := run(t, "kubectl-karpctl", "lease", "--all-contexts", "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if code != cli.ExitUsage || !strings.Contains(errOut, "error: loading kubeconfig: ") {
		t.Errorf("missing kubeconfig: exit %d %q", code, errOut)
	}
}

// Every context unreachable: one ERROR row each, exit 1, the summary counts them; -o json is the
// list of {context, error}.
func TestFleetAllUnreachable(t *testing.T) {
	kc := fleetKubeconfig(t, "a", "b")
	code, out, errOut := run(t, "kubectl-karpctl", "lease", "--all-contexts", "--kubeconfig", kc, "--request-timeout", "5s")
	if code != cli.ExitAPI || !strings.Contains(errOut, "error: lease: 2 of 2 clusters not OK: a (unreachable), b (unreachable)") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "CONTEXT   VERDICT") || !strings.HasPrefix(lines[1], "a         ERROR     ") ||
		!strings.Contains(lines[1], "connection refused") || lines[4] != "2 clusters: 0 healthy, 0 unhealthy, 2 unreachable" {
		t.Fatalf("table:\n%s", out)
	}
	code, out, _ = run(t, "kubectl-karpctl", "version", "--contexts", "b,a,b", "-o", "json", "--kubeconfig", kc)
	if code != cli.ExitAPI || !strings.HasPrefix(out, "[\n  {\n    \"context\": \"b\",\n    \"error\": \"") || strings.Count(out, `"context"`) != 2 || strings.Contains(out, `"result"`) {
		t.Fatalf("exit %d json:\n%s", code, out)
	}
}

func TestFleetFlagsOnlyOnReadCommands(t *testing.T) {
	root := NewRoot(&Env{Globals: cli.NewGlobals()}, "karpctl")
	for _, c := range root.Commands() {
		for _, cmd := range append(c.Commands(), c) {
			has := cmd.Flags().Lookup("contexts") != nil
			want := map[string]bool{"lease": true, "health": true, "audit-topology": true, "version": true}[cmd.Name()]
			if has != want {
				t.Errorf("%s: --contexts registered %t, want %t", cmd.CommandPath(), has, want)
			}
		}
	}
}
