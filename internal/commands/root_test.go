package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/karpctl/karpctl/internal/cli"
)

func run(t *testing.T, program string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &Env{IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, Globals: cli.NewGlobals()}
	code := Run(context.Background(), env, program, args)
	return code, out.String(), errOut.String()
}

func TestPluginHelpShowsKubectl(t *testing.T) {
	_, out, _ := run(t, "kubectl-karpctl", "--help")
	if !strings.Contains(out, "kubectl karpctl [command]") {
		t.Fatalf("plugin help:\n%s", out)
	}
	_, out, _ = run(t, "karpctl", "--help")
	if strings.Contains(out, "kubectl karpctl") || !strings.Contains(out, "karpctl [command]") {
		t.Fatalf("direct help:\n%s", out)
	}
	for _, flag := range []string{"--kubeconfig", "--context", "--namespace", "--as", "--token", "--request-timeout", "--karpenter-namespace", "--karpenter-selector", "--lease"} {
		if !strings.Contains(out, flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}

func TestUsageErrorsExit2WithOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"lease", "--bogus"},
		{"lease", "extra-arg"},
		{"lease", "-o", "xml"},
		{"lease", "--lease", "nslash"},
		{"version", "--lease", "ns/a/b"},
		{"plan", "--lease", "ns/"},
		{"drill", "restore", "--lease", "/name"},
		{"lease", "--watch-duration", "-1s"},
		{"version", "-o", "toml"},
	} {
		code, _, errOut := run(t, "kubectl-karpctl", append(args, "--kubeconfig", "/nonexistent")...)
		if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

// A usage error is found before the cluster is asked anything: against an unreachable server the
// answer is still exit 2, not the API error of a request that should not have been sent.
func TestServeWithWatchIsUsageErrorBeforeAnyRequest(t *testing.T) {
	code, _, errOut := run(t, "kubectl-karpctl", "lease", "--serve", "127.0.0.1:0", "--watch", "--server", "https://127.0.0.1:1", "--request-timeout", "2s")
	if code != cli.ExitUsage || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--serve and --watch") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestUnreachableClusterIsAPIError(t *testing.T) {
	code, _, errOut := run(t, "kubectl-karpctl", "lease", "--server", "https://127.0.0.1:1", "--request-timeout", "2s")
	if code != cli.ExitAPI || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestCompletion(t *testing.T) {
	code, out, _ := run(t, "kubectl-karpctl", "completion", "bash")
	if code != 0 || !strings.Contains(out, "bash completion") {
		t.Fatalf("exit %d", code)
	}
}

func TestVersionClientOnly(t *testing.T) {
	code, out, _ := run(t, "kubectl-karpctl", "version", "--client", "-o", "json")
	if code != 0 || !strings.Contains(out, `"karpctl"`) || !strings.Contains(out, cli.EngineModule) {
		t.Fatalf("exit %d: %s", code, out)
	}
}

// -v is kubectl's klog verbosity (-v=6 logs every request), not a command's own flag: it takes a
// level, and lease's --verbose has no -v shorthand any more.
func TestKlogVerbosity(t *testing.T) {
	if code, _, errOut := run(t, "kubectl-karpctl", "version", "--client", "-v=6"); code != 0 {
		t.Fatalf("-v=6: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, "kubectl-karpctl", "lease", "--v", "2", "--help"); code != 0 {
		t.Fatalf("--v 2: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, "kubectl-karpctl", "version", "--client", "-v", "x"); code != cli.ExitUsage || !strings.Contains(errOut, "-v") {
		t.Fatalf("-v x: exit %d: %s", code, errOut)
	}
}

// alerts takes -o like every other command; --format is the same flag.
func TestAlertsOutputFlag(t *testing.T) {
	for _, flag := range []string{"-o", "--format"} {
		code, out, errOut := run(t, "kubectl-karpctl", "alerts", "--offline", "--karpenter-namespace", "karpenter", flag, "rules")
		if code != 0 || !strings.HasPrefix(strings.TrimLeft(out, "# \n"), "groups:") && !strings.Contains(out, "\ngroups:") {
			t.Errorf("%s rules: exit %d, %s\n%s", flag, code, errOut, out)
		}
	}
}
