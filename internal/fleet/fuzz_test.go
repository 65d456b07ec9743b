package fleet

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// FuzzSelect feeds a kubeconfig and --contexts/--all-contexts/--context-selector values to Select: it
// picks only contexts the kubeconfig has, each once, or says why not; it never panics.
func FuzzSelect(f *testing.F) {
	kc := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts:\n- {name: prod-eu, context: {cluster: c, user: u}}\n- {name: prod-us, context: {cluster: c, user: u}}\n- {name: dev, context: {cluster: c, user: u}}\n"
	f.Add([]byte(kc), "prod-eu,dev", false, "")
	f.Add([]byte(kc), "", true, "^prod-")
	f.Add([]byte(kc), "", false, "(")
	f.Add([]byte(kc), " ,dev", false, "")
	f.Add([]byte(kc), "dev,dev,nope", false, "")
	f.Add([]byte("contexts: []\n"), "", true, "")
	f.Add([]byte("{"), "a", false, "")
	f.Fuzz(func(t *testing.T, kubeconfig []byte, names string, all bool, pattern string) {
		cfg, err := clientcmd.Load(kubeconfig)
		if err != nil {
			return // clientcmd's own error; the command reports it as it is
		}
		var s Selection
		if names != "" {
			s.Names = strings.Split(names, ",")
		}
		s.All, s.Pattern = all, pattern
		got, err := Select(*cfg, s)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("no contexts and no error")
		}
		seen := map[string]bool{}
		for _, n := range got {
			if cfg.Contexts[n] == nil || seen[n] {
				t.Fatalf("selected %q: unknown or repeated in %v", n, got)
			}
			seen[n] = true
		}
		if len(s.Names) == 0 && !slices.IsSorted(got) {
			t.Fatalf("--all-contexts gave %v, not sorted", got)
		}
	})
}
