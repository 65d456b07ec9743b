package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// ModuleDir is the module cache folder of a dependency of karpctl (go list -m), e.g. to read
// sigs.k8s.io/karpenter's CRDs from the exact version karpctl builds against.
func ModuleDir(module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: module not downloaded", module)
	}
	return dir, nil
}

// KarpenterCRDDirs are the CRD folders of the pinned sigs.k8s.io/karpenter: pkg/apis/crds
// (NodePool, NodeClaim, NodeOverlay) and kwok/apis/crds (KWOKNodeClass).
func KarpenterCRDDirs() ([]string, error) {
	dir, err := ModuleDir("sigs.k8s.io/karpenter")
	if err != nil {
		return nil, err
	}
	return []string{filepath.Join(dir, "pkg", "apis", "crds"), filepath.Join(dir, "kwok", "apis", "crds")}, nil
}

// InstallCRDs creates the CustomResourceDefinitions in paths (YAML files, or folders of them) with
// the apiextensions client and waits until each is Established. Existing CRDs are left as they are.
func InstallCRDs(ctx context.Context, cfg *rest.Config, paths ...string) error {
	c, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(p, "*.yaml"))
		sort.Strings(matches)
		files = append(files, matches...)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return fmt.Errorf("decoding CRD %s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s from %s: %w", crd.Name, f, err)
		}
		names = append(names, crd.Name)
	}
	for _, name := range names {
		for {
			got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return fmt.Errorf("reading CRD %s: %w", name, err)
			}
			if established(got) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CRD %s not Established: %w", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}
