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
	fmt.Fprintf(b, "%s %s\n", s.Bold.Render("Karpenter settings:"), SettingsSummary(st, ""))
	for _, w := range st.Warnings {
		fmt.Fprintf(b, "  %s %s\n", s.Warn.Render("!"), w)
	}
}

// SettingsSummary is the one line that says what Karpenter's code runs with: every predictive setting
// that differs from Karpenter's default and where it came from, how many other settings differ, and
// where they were read ("[Deployment NS/NAME]", with when appended: "[Deployment NS/NAME, when]").
func SettingsSummary(st *karpenter.Settings, when string) string {
	from := "no Karpenter Deployment read"
	if st.Deployment != "" {
		from = "Deployment " + st.Deployment
	}
	if when != "" {
		from += ", " + when
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
	return line + " [" + from + "]"
}
