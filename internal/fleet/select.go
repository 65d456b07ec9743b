// Package fleet runs one read-only karpctl question against many kubeconfig contexts at once and
// keeps the answers keyed by context: which contexts (Select), the bounded concurrent run (Run), the
// per-context outcome (Outcome) and the fleet's verdict (Summarize). It neither builds clients nor
// prints: the command gives it a function from one context to that context's answer.
package fleet

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Selection is what the user asked for: named contexts, or every context (optionally matching a
// regular expression).
type Selection struct {
	// Names are --contexts, in the order given.
	Names []string
	// All is --all-contexts.
	All bool
	// Pattern is --context-selector: it narrows All (and implies it when given alone).
	Pattern string
}

// Select resolves s against the kubeconfig's contexts: Names in the order given (a repeat counted
// once), or every context, sorted by name. An unknown name, a pattern that does not compile or
// matches nothing, or an empty selection is an error naming the known contexts.
func Select(cfg clientcmdapi.Config, s Selection) ([]string, error) {
	known := make([]string, 0, len(cfg.Contexts))
	for name := range cfg.Contexts {
		known = append(known, name)
	}
	slices.Sort(known)
	switch {
	case len(s.Names) > 0 && (s.All || s.Pattern != ""):
		return nil, fmt.Errorf("--contexts names the contexts, --all-contexts and --context-selector pick them from the kubeconfig: use one or the other")
	case len(known) == 0:
		return nil, fmt.Errorf("the kubeconfig has no contexts")
	case len(s.Names) > 0:
		var out, unknown []string
		for _, n := range s.Names {
			n = strings.TrimSpace(n)
			switch {
			case n == "":
				return nil, fmt.Errorf("--contexts has an empty name; want --contexts a,b,c (known contexts: %s)", list(known))
			case cfg.Contexts[n] == nil:
				unknown = append(unknown, fmt.Sprintf("%q", n))
			case !slices.Contains(out, n):
				out = append(out, n)
			}
		}
		if len(unknown) > 0 {
			return nil, fmt.Errorf("--contexts: no context %s in the kubeconfig; known contexts: %s", strings.Join(unknown, ", "), list(known))
		}
		return out, nil
	case s.Pattern != "":
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("--context-selector %q is not a regular expression: %v", s.Pattern, err)
		}
		var out []string
		for _, n := range known {
			if re.MatchString(n) {
				out = append(out, n)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("--context-selector %q matches no context; known contexts: %s", s.Pattern, list(known))
		}
		return out, nil
	case s.All:
		return known, nil
	}
	return nil, fmt.Errorf("no contexts selected: give --contexts a,b,c, --all-contexts or --context-selector REGEX")
}

// list names the known contexts, the first 20 of a long list.
func list(names []string) string {
	const max = 20
	if len(names) > max {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
	}
	return strings.Join(names, ", ")
}
