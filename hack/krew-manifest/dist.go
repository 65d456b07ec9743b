package main

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// dist is GoReleaser's output directory: the archives and checksums.txt listing their sha256.
type dist struct {
	dir       string
	sums      map[string]string // archive name → sha256, from checksums.txt
	used      map[string]bool   // archives the template named
	onlyBuilt bool
}

func openDist(dir string, onlyBuilt bool) (*dist, error) {
	f, err := os.Open(filepath.Join(dir, "checksums.txt"))
	if err != nil {
		return nil, fmt.Errorf("%w (run goreleaser first)", err)
	}
	defer f.Close()
	d := &dist{dir: dir, sums: map[string]string{}, used: map[string]bool{}, onlyBuilt: onlyBuilt}
	s := bufio.NewScanner(f)
	for n := 1; s.Scan(); n++ {
		sum, name, ok := strings.Cut(s.Text(), "  ")
		if !ok || len(sum) != 64 || name == "" {
			return nil, fmt.Errorf("%s/checksums.txt:%d: want \"<sha256>  <file>\", got %q", dir, n, s.Text())
		}
		d.sums[name] = sum
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if len(d.archives()) == 0 {
		return nil, fmt.Errorf("%s/checksums.txt lists no .tar.gz or .zip archive", dir)
	}
	return d, nil
}

// archives are the .tar.gz and .zip files checksums.txt lists, sorted.
func (d *dist) archives() []string {
	var names []string
	for name := range d.sums {
		if strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".zip") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// example is the archive the manifest's header shows in its install command: linux/amd64's if built.
func (d *dist) example() string {
	names := d.archives()
	for _, n := range names {
		if strings.Contains(n, "_linux_amd64.") {
			return n
		}
	}
	return names[0]
}

// sha256 is the checksum of the archive a release URL names, after checking that the file in the
// directory still has it.
func (d *dist) sha256(url string) (string, error) {
	name := path.Base(url)
	want, ok := d.sums[name]
	if !ok {
		if d.onlyBuilt {
			return notBuilt, nil
		}
		return "", fmt.Errorf("%s is not in %s/checksums.txt (the template and .goreleaser.yaml disagree on the archives, or this is a partial build: -only-built)", name, d.dir)
	}
	b, err := os.ReadFile(filepath.Join(d.dir, name))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return "", fmt.Errorf("%s: sha256 %s, but checksums.txt says %s", name, got, want)
	}
	d.used[name] = true
	return want, nil
}

// platform is what finish reads of a spec.platforms entry.
type platform struct {
	Selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	} `yaml:"selector"`
	URI    string `yaml:"uri"`
	Sha256 string `yaml:"sha256"`
	Bin    string `yaml:"bin"`
}

// finish parses the rendered manifest, drops the entries of archives that were not built
// (-only-built), checks each remaining entry against its archive and that every archive has an
// entry, and returns the manifest as YAML.
func finish(rendered []byte, d *dist) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(rendered, &doc); err != nil {
		return nil, fmt.Errorf("the rendered template is not YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("the rendered template is not one YAML document")
	}
	seq := lookup(doc.Content[0], "spec", "platforms")
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil, errors.New("the rendered template has no spec.platforms list")
	}
	var kept []*yaml.Node
	for i, n := range seq.Content {
		var p platform
		if err := n.Decode(&p); err != nil {
			return nil, fmt.Errorf("spec.platforms[%d]: %w", i, err)
		}
		if p.Sha256 == notBuilt {
			continue
		}
		if err := d.check(p); err != nil {
			return nil, fmt.Errorf("spec.platforms[%d]: %w", i, err)
		}
		kept = append(kept, n)
	}
	for _, name := range d.archives() {
		if !d.used[name] {
			return nil, fmt.Errorf("%s (in %s/checksums.txt) has no entry in spec.platforms", name, d.dir)
		}
	}
	seq.Content = kept
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// lookup walks mapping keys from n.
func lookup(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// check is what krew's validator cannot see: the selector names the archive's platform
// (GoReleaser's names end in _OS_ARCH) and the archive holds bin and LICENSE at its root, where krew
// (with no files: list) installs the whole archive.
func (d *dist) check(p platform) error {
	name := path.Base(p.URI)
	osName, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
	if osName == "" || arch == "" {
		return fmt.Errorf("%s: the selector must name os and arch in matchLabels", name)
	}
	stem := strings.TrimSuffix(strings.TrimSuffix(name, ".zip"), ".tar.gz")
	if !strings.HasSuffix(stem, "_"+osName+"_"+arch) {
		return fmt.Errorf("%s does not end in _%s_%s, the platform its selector names", name, osName, arch)
	}
	if osName == "windows" && !strings.HasSuffix(p.Bin, ".exe") {
		return fmt.Errorf("%s: bin %q has no .exe, which Windows needs", name, p.Bin)
	}
	files, err := members(filepath.Join(d.dir, name))
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	for _, f := range []string{p.Bin, "LICENSE"} {
		if !slices.Contains(files, f) {
			return fmt.Errorf("%s holds %v, not %s", name, files, f)
		}
	}
	return nil
}

// members lists the regular files of a .tar.gz or .zip archive.
func members(file string) ([]string, error) {
	if strings.HasSuffix(file, ".zip") {
		z, err := zip.OpenReader(file)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		var names []string
		for _, f := range z.File {
			if f.Mode().IsRegular() {
				names = append(names, f.Name)
			}
		}
		return names, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var names []string
	for tr := tar.NewReader(gz); ; {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			names = append(names, h.Name)
		}
	}
}
