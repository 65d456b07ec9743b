// Command krew-manifest renders karpctl's krew plugin manifest from the .krew.yaml template as
// krew-release-bot does for a release (text/template with {{ .TagName }}, addURIAndSha and indent),
// but takes each archive's sha256 from the GoReleaser dist directory instead of downloading it, and
// checks what krew cannot: that every archive is listed, that each entry's selector names the
// archive's platform, and that the archive holds the entry's bin and a LICENSE.
//
//	go run ./hack/krew-manifest -dist dist -o plugins/karpctl.yaml
//
// `make release-snapshot` runs it after `goreleaser release --snapshot`; -only-built keeps only the
// platforms whose archives were built (the release test builds linux/amd64 alone).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

func main() {
	var o options
	flag.StringVar(&o.template, "template", ".krew.yaml", "the krew-release-bot template")
	flag.StringVar(&o.dist, "dist", "dist", "GoReleaser's output: the archives, checksums.txt and metadata.json")
	flag.StringVar(&o.out, "o", filepath.Join("plugins", "karpctl.yaml"), "where to write the manifest")
	flag.StringVar(&o.tag, "tag", "", "the release tag (default: v + the version in DIST/metadata.json)")
	flag.BoolVar(&o.onlyBuilt, "only-built", false, "drop the platforms whose archives are not in DIST instead of failing")
	flag.Parse()
	if err := o.run(); err != nil {
		fmt.Fprintf(os.Stderr, "krew-manifest: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	template, dist, out, tag string
	onlyBuilt                bool
}

func (o *options) run() error {
	tmpl, err := os.ReadFile(o.template)
	if err != nil {
		return err
	}
	if o.tag == "" {
		if o.tag, err = tagFromMetadata(filepath.Join(o.dist, "metadata.json")); err != nil {
			return err
		}
	}
	a, err := openDist(o.dist, o.onlyBuilt)
	if err != nil {
		return err
	}
	rendered, err := render(filepath.Base(o.template), tmpl, o.tag, a)
	if err != nil {
		return err
	}
	manifest, err := finish(rendered, a)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(o.out), filepath.Ext(o.out))
	header := fmt.Sprintf("# krew manifest of %s %s, rendered from %s with the sha256 of the archives in %s.\n"+
		"# Install one without downloading:\n"+
		"#   kubectl krew install --manifest=%s --archive=%s\n",
		name, o.tag, filepath.Base(o.template), o.dist, o.out, filepath.Join(o.dist, a.example()))
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(o.out, append([]byte(header), manifest...), 0o644)
}

// tagFromMetadata is the release tag for GoReleaser's metadata.json: "v" + its version, which for a
// snapshot is the snapshot version (the "tag" field there is the last real tag).
func tagFromMetadata(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w (run goreleaser first, or pass -tag)", err)
	}
	var m struct{ Version string }
	if err := json.Unmarshal(b, &m); err != nil || m.Version == "" {
		return "", fmt.Errorf("%s: no version (%v)", path, err)
	}
	return "v" + strings.TrimPrefix(m.Version, "v"), nil
}

// notBuilt stands for the sha256 of an archive that -only-built lets be absent; finish drops its entry.
const notBuilt = "not-built"

// render executes the template with the functions and values krew-release-bot gives it:
// .TagName and .Version at the top, and inside addURIAndSha's URL template.
func render(name string, tmpl []byte, tag string, a *dist) ([]byte, error) {
	t, err := template.New(name).Funcs(template.FuncMap{
		"addURIAndSha": func(urlTemplate, tag string) (string, error) {
			url, err := execute(urlTemplate, tag)
			if err != nil {
				return "", err
			}
			sum, err := a.sha256(url)
			if err != nil {
				return "", err
			}
			// krew-release-bot's output: the uri, then sha256 on the next line at four spaces.
			return fmt.Sprintf("uri: %s\n    sha256: %s", url, sum), nil
		},
		"indent": func(spaces int, v string) string {
			pad := strings.Repeat(" ", spaces)
			v = strings.ReplaceAll(v, "    sha256:", "sha256:")
			return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
		},
	}).Parse(string(tmpl))
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, values(tag)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func execute(urlTemplate, tag string) (string, error) {
	t, err := template.New("url").Parse(urlTemplate)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, values(tag)); err != nil {
		return "", err
	}
	return b.String(), nil
}

type templateValues struct{ TagName, Version string }

var versionInTag = regexp.MustCompile(`\d+(\.\d+)+`)

// values are krew-release-bot's: the tag, and the dotted version number found in it.
func values(tag string) templateValues {
	v := versionInTag.FindString(tag)
	if v == "" {
		v = tag
	}
	return templateValues{TagName: tag, Version: v}
}
