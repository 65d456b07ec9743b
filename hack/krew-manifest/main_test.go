package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const tag = "v1.2.3"

// platforms are .goreleaser.yaml's five: archive suffix and binary.
var platforms = []struct{ osArch, ext, bin string }{
	{"linux_amd64", "tar.gz", "kubectl-karpctl"},
	{"linux_arm64", "tar.gz", "kubectl-karpctl"},
	{"darwin_amd64", "tar.gz", "kubectl-karpctl"},
	{"darwin_arm64", "tar.gz", "kubectl-karpctl"},
	{"windows_amd64", "zip", "kubectl-karpctl.exe"},
}

// writeDist writes archives named as GoReleaser names them, each holding files, and checksums.txt.
func writeDist(t *testing.T, files map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	var sums strings.Builder
	for name, members := range files {
		b := archive(t, name, members)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(sums.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func archive(t *testing.T, name string, members []string) []byte {
	t.Helper()
	var b bytes.Buffer
	if strings.HasSuffix(name, ".zip") {
		z := zip.NewWriter(&b)
		for _, m := range members {
			w, _ := z.Create(m)
			w.Write([]byte(m))
		}
		if err := z.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		tw.WriteHeader(&tar.Header{Name: m, Mode: 0o755, Size: int64(len(m)), Typeflag: tar.TypeReg})
		tw.Write([]byte(m))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	gz.Close()
	return b.Bytes()
}

func fullDist() map[string][]string {
	files := map[string][]string{}
	for _, p := range platforms {
		files["karpctl_"+tag+"_"+p.osArch+"."+p.ext] = []string{p.bin, "LICENSE", "README.md"}
	}
	return files
}

// generate runs the generator on the repository's own .krew.yaml.
func generate(t *testing.T, dir string, onlyBuilt bool) (manifest []byte, err error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "plugins", "karpctl.yaml")
	o := options{template: filepath.Join("..", "..", ".krew.yaml"), dist: dir, out: out, tag: tag, onlyBuilt: onlyBuilt}
	if err := o.run(); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
}

type manifest struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string
	Metadata   struct{ Name string }
	Spec       struct {
		Version          string
		Homepage         string
		ShortDescription string `yaml:"shortDescription"`
		Description      string
		Caveats          string
		Platforms        []platform
	}
}

func TestManifestFromTheTemplate(t *testing.T) {
	dir := writeDist(t, fullDist())
	b, err := generate(t, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != "karpctl" ||
		m.Spec.Version != tag || m.Spec.ShortDescription == "" || !strings.Contains(m.Spec.Caveats, "permission") ||
		!strings.Contains(m.Spec.Description, "confirmation") || !strings.HasPrefix(m.Spec.Homepage, "https://") {
		t.Fatalf("%+v", m)
	}
	if len(m.Spec.Platforms) != len(platforms) {
		t.Fatalf("%d platforms:\n%s", len(m.Spec.Platforms), b)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "checksums.txt"))
	for i, p := range m.Spec.Platforms {
		want := platforms[i]
		name := "karpctl_" + tag + "_" + want.osArch + "." + want.ext
		if p.URI != "https://github.com/karpctl/karpctl/releases/download/"+tag+"/"+name || p.Bin != want.bin ||
			p.Selector.MatchLabels["os"]+"_"+p.Selector.MatchLabels["arch"] != want.osArch ||
			!strings.Contains(string(sums), p.Sha256+"  "+name+"\n") {
			t.Errorf("platform %d: %+v", i, p)
		}
	}
	if !strings.HasPrefix(string(b), "# krew manifest of karpctl "+tag) || !strings.Contains(string(b), "--archive="+filepath.Join(dir, "karpctl_"+tag+"_linux_amd64.tar.gz")) {
		t.Errorf("header:\n%s", b)
	}
}

func TestOnlyBuiltKeepsTheBuiltPlatforms(t *testing.T) {
	files := fullDist()
	for name := range files {
		if !strings.Contains(name, "linux_amd64") {
			delete(files, name)
		}
	}
	dir := writeDist(t, files)
	if _, err := generate(t, dir, false); err == nil || !strings.Contains(err.Error(), "not in") {
		t.Fatalf("a partial dist without -only-built: %v", err)
	}
	b, err := generate(t, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil || len(m.Spec.Platforms) != 1 || m.Spec.Platforms[0].Selector.MatchLabels["os"] != "linux" {
		t.Fatalf("%v\n%s", err, b)
	}
}

func TestArchivesThatDisagreeWithTheTemplate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(files map[string][]string)
		want   string
	}{
		{"no LICENSE", func(f map[string][]string) {
			f["karpctl_"+tag+"_darwin_arm64.tar.gz"] = []string{"kubectl-karpctl", "README.md"}
		}, "not LICENSE"},
		{"windows binary without .exe", func(f map[string][]string) {
			f["karpctl_"+tag+"_windows_amd64.zip"] = []string{"kubectl-karpctl", "LICENSE"}
		}, "not kubectl-karpctl.exe"},
		{"an archive the template does not list", func(f map[string][]string) {
			f["karpctl_"+tag+"_linux_riscv64.tar.gz"] = []string{"kubectl-karpctl", "LICENSE"}
		}, "linux_riscv64.tar.gz (in"},
	} {
		files := fullDist()
		tc.change(files)
		if _, err := generate(t, writeDist(t, files), false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestChecksumMustMatchTheFile(t *testing.T) {
	dir := writeDist(t, fullDist())
	if err := os.WriteFile(filepath.Join(dir, "karpctl_"+tag+"_linux_arm64.tar.gz"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(t, dir, false); err == nil || !strings.Contains(err.Error(), "but checksums.txt says") {
		t.Fatalf("%v", err)
	}
}

func TestSelectorMustNameTheArchivesPlatform(t *testing.T) {
	d := &dist{dir: writeDist(t, fullDist())}
	var p platform
	p.Selector.MatchLabels = map[string]string{"os": "darwin", "arch": "amd64"}
	p.URI, p.Bin = "https://github.com/karpctl/karpctl/releases/download/"+tag+"/karpctl_"+tag+"_darwin_arm64.tar.gz", "kubectl-karpctl"
	if err := d.check(p); err == nil || !strings.Contains(err.Error(), "does not end in _darwin_amd64") {
		t.Fatalf("%v", err)
	}
}

func TestValuesAsKrewReleaseBot(t *testing.T) {
	if v := values("v1.2.3"); v.TagName != "v1.2.3" || v.Version != "1.2.3" {
		t.Errorf("%+v", v)
	}
	if v := values("v0.0.1-snapshot-1c1bcbf"); v.Version != "0.0.1" {
		t.Errorf("%+v", v)
	}
}

func TestTagFromMetadata(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metadata.json")
	os.WriteFile(p, []byte(`{"project_name":"karpctl","tag":"v0.0.0","version":"0.0.1-snapshot-1c1bcbf"}`), 0o644)
	if tag, err := tagFromMetadata(p); err != nil || tag != "v0.0.1-snapshot-1c1bcbf" {
		t.Fatalf("%q %v", tag, err)
	}
}
