// Package buildinfo reads the versions of the modules linked into the running binary, so that what
// karpctl prints about the Karpenter it bundles always follows go.mod.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

var deps = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return m
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			m[d.Path] = d.Replace.Version
		} else {
			m[d.Path] = d.Version
		}
	}
	return m
})

// ModuleVersion is the version of the module at path linked into this binary (a replacement's
// version when go.mod replaces it), or "unknown" when the binary does not record it (a test binary
// of a package that does not import it, or a build without module information).
func ModuleVersion(path string) string {
	if v := deps()[path]; v != "" {
		return v
	}
	return "unknown"
}
