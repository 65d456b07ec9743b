// Package release tests the release as a user meets it: GoReleaser's archive for this machine's
// platform, built from .goreleaser.yaml by hack/release/snapshot.sh (the script behind `make
// release-snapshot`), installed by `kubectl krew install --manifest --archive` into an empty
// KREW_ROOT, and run as `kubectl karpctl`.
package release

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/harness"
	"github.com/karpctl/karpctl/internal/versions"
	"github.com/karpctl/karpctl/test/e2e"
)

// TestKrewInstallsTheReleaseArchive builds this platform's release archive (the full release builds
// five; one is enough to test the config, the manifest and krew's install, and saves CI minutes),
// validates the manifest with krew's validator, installs it with kubectl krew and runs it.
func TestKrewInstallsTheReleaseArchive(t *testing.T) {
	kubectl := need(t, "kubectl from the harness build (make harness)", func() (string, error) { return harness.Bin("kubectl") })
	tools := toolsDir()
	for _, tool := range []string{"goreleaser", "krew", "validate-krew-manifest"} {
		need(t, tool+" (make release-tools)", func() (string, error) { return filepath.Join(tools, tool), exists(filepath.Join(tools, tool)) })
	}
	ctx := e2e.Context(t, 15*time.Minute)
	root, tmp := harness.RepoRoot(), t.TempDir()
	dist, manifest := filepath.Join(tmp, "dist"), filepath.Join(tmp, "plugins", "karpctl.yaml")

	snapshot := exec.CommandContext(ctx, "bash", "hack/release/snapshot.sh")
	snapshot.Dir = root
	snapshot.Env = append(os.Environ(), "GORELEASER_CONFIG="+onePlatformConfig(t, root, dist), "DIST="+dist,
		"MANIFEST="+manifest, "ONLY_BUILT=1", "KARPCTL_TOOLS="+tools, "NO_COLOR=1")
	t0 := time.Now()
	out, err := snapshot.CombinedOutput()
	t.Logf("hack/release/snapshot.sh (%s):\n%s", time.Since(t0).Round(time.Second), out)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	var m struct {
		Spec struct {
			Version   string
			Platforms []struct{ URI, Sha256, Bin string }
		}
	}
	b, err := os.ReadFile(manifest)
	if err != nil || yaml.Unmarshal(b, &m) != nil || len(m.Spec.Platforms) != 1 {
		t.Fatalf("manifest %s: %v\n%s", manifest, err, b)
	}
	tag := m.Spec.Version
	archive := filepath.Join(dist, "karpctl_"+tag+"_"+runtime.GOOS+"_"+runtime.GOARCH+".tar.gz")
	checkArchive(t, archive, dist, m.Spec.Platforms[0].Sha256)

	// kubectl finds krew as the plugin kubectl-krew, and karpctl where krew links it: $KREW_ROOT/bin.
	krewRoot, pathDir := filepath.Join(tmp, "krew"), filepath.Join(tmp, "path")
	if err := os.MkdirAll(pathDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(tools, "krew"), filepath.Join(pathDir, "kubectl-krew")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "KREW_ROOT="+krewRoot, "KREW_NO_UPGRADE_CHECK=1",
		"PATH="+strings.Join([]string{filepath.Join(krewRoot, "bin"), pathDir, os.Getenv("PATH")}, string(os.PathListSeparator)))
	run := func(args ...string) string {
		t.Helper()
		c := exec.CommandContext(ctx, kubectl, args...)
		c.Env, c.Dir = env, tmp
		out, err := c.CombinedOutput()
		t.Logf("kubectl %s:\n%s", strings.Join(args, " "), out)
		if err != nil {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		return string(out)
	}
	run("krew", "install", "--manifest="+manifest, "--archive="+archive)
	if out := run("plugin", "list"); !strings.Contains(out, filepath.Join(krewRoot, "bin", "kubectl-karpctl")) {
		t.Fatalf("kubectl plugin list does not list krew's kubectl-karpctl")
	}
	if out := run("karpctl", "version", "--client"); !strings.Contains(out, "karpctl:") || !strings.Contains(out, tag) {
		t.Fatalf("kubectl karpctl version --client does not show %s", tag)
	}
	checkStamps(t, run("karpctl", "version", "--client", "-o", "json"), root, tag)
}

// onePlatformConfig is .goreleaser.yaml with its builds limited to this machine's platform and its
// dist in the test's directory; everything else (flags, stamps, archive names and files) unchanged.
func onePlatformConfig(t *testing.T, root, dist string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	builds, _ := cfg["builds"].([]any)
	if len(builds) == 0 {
		t.Fatal(".goreleaser.yaml has no builds")
	}
	for _, b := range builds {
		build := b.(map[string]any)
		if !slices.Contains(build["goos"].([]any), any(runtime.GOOS)) || !slices.Contains(build["goarch"].([]any), any(runtime.GOARCH)) {
			t.Fatalf(".goreleaser.yaml does not build %s/%s: %v", runtime.GOOS, runtime.GOARCH, build)
		}
		build["goos"], build["goarch"] = []string{runtime.GOOS}, []string{runtime.GOARCH}
		delete(build, "ignore")
	}
	cfg["dist"] = dist
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "goreleaser.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkArchive: checksums.txt and the manifest agree with the file, which holds the binary, LICENSE,
// README.md and the completion executables kubectl runs for `kubectl karpctl <TAB>`.
func checkArchive(t *testing.T, archive, dist, manifestSum string) {
	t.Helper()
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	sum := hex.EncodeToString(s[:])
	sums, _ := os.ReadFile(filepath.Join(dist, "checksums.txt"))
	if !strings.Contains(string(sums), sum+"  "+filepath.Base(archive)+"\n") || manifestSum != sum {
		t.Fatalf("%s has sha256 %s; checksums.txt:\n%s\nmanifest: %s", archive, sum, sums, manifestSum)
	}
	f, _ := os.Open(archive)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tr := tar.NewReader(gz); ; {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	slices.Sort(names)
	if want := []string{"LICENSE", "README.md", "kubectl-karpctl", "kubectl_complete-karpctl", "kubectl_complete-karpctl.cmd"}; !slices.Equal(names, want) {
		t.Fatalf("%s holds %v, want %v", archive, names, want)
	}
}

// checkStamps: the installed binary reports the snapshot's version, the checkout's commit and its
// time, the bundled engine and its platform.
func checkStamps(t *testing.T, out, root, tag string) {
	t.Helper()
	var v versions.Info
	if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &v); err != nil {
		t.Fatalf("version -o json: %v", err)
	}
	git := func(args ...string) string {
		c := exec.Command("git", args...)
		c.Dir, c.Env = root, append(os.Environ(), "TZ=UTC")
		out, err := c.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	commit, date := git("rev-parse", "HEAD"), git("log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
	if v.Karpctl != tag || v.Commit != commit || v.CommitDate != date || v.Engine != cli.Engine() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Fatalf("version %+v, want %s, commit %s of %s, %s", v, tag, commit, date, cli.Engine())
	}
}

// toolsDir is where hack/release/tools.sh installs: $KARPCTL_TOOLS, else <repo>/.bin/tools.
func toolsDir() string {
	if d := os.Getenv("KARPCTL_TOOLS"); d != "" {
		return d
	}
	return filepath.Join(harness.RepoRoot(), ".bin", "tools")
}

func exists(p string) error {
	_, err := os.Stat(p)
	return err
}

// need returns the path find gives, skipping the test when it is missing, except under CI=true,
// whose .ci/run installs everything: there a missing tool fails.
func need(t *testing.T, what string, find func() (string, error)) string {
	t.Helper()
	p, err := find()
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" || !errors.Is(err, os.ErrNotExist) && !errors.Is(err, harness.ErrMissingBinaries) {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
	return ""
}
