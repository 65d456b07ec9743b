package view

import (
	"fmt"
	"strings"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/output"
)

// karpenterSettings writes the header lines that say what Karpenter's code ran with: every predictive
// setting that differs from Karpenter's default and where it came from, how many other settings
// differ, and what could not be read.
func karpenterSettings(b *strings.Builder, s output.Styles, st *karpenter.Settings) {
	if st == nil {
		return
	}
	from := "no Karpenter Deployment read"
	if st.Deployment != "" {
		from = "Deployment " + st.Deployment
	}
	var shown []string
	others := 0
	for _, x := range st.NonDefault() {
		if !x.Predictive {
			others++
			continue
		}
		shown = append(shown, fmt.Sprintf("%s=%s (%s)", x.Name, x.Value, x.Source))
	}
	line := "Karpenter's defaults"
	if len(shown) > 0 {
		line = strings.Join(shown, ", ")
	}
	if others > 0 {
		line += fmt.Sprintf("; %d other settings differ, none changes a prediction (-o json lists them)", others)
	}
	fmt.Fprintf(b, "%s %s [%s]\n", s.Bold.Render("Karpenter settings:"), line, from)
	for _, w := range st.Warnings {
		fmt.Fprintf(b, "  %s %s\n", s.Warn.Render("!"), w)
	}
}
