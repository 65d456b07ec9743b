// Package output renders every karpctl command's result the same way: aligned tables for people
// (styled with lipgloss only on a terminal without NO_COLOR), stable JSON/YAML for machines.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/mattn/go-isatty"
	"github.com/muesli/termenv"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Format is the value of -o.
type Format string

const (
	TableFormat Format = "table"
	Wide        Format = "wide"
	JSON        Format = "json"
	YAML        Format = "yaml"
	SARIF       Format = "sarif"
)

// AddFormatFlag registers -o/--output accepting the given formats (the first is the default).
func AddFormatFlag(fs *pflag.FlagSet, f *Format, allowed ...Format) {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	*f = allowed[0]
	v := &FormatValue[Format]{Value: f, Allowed: allowed, What: "output format", Hint: "one of " + strings.Join(names, ", ")}
	fs.VarP(v, "output", "o", "Output format: "+strings.Join(names, "|"))
}

// FormatValue is a format flag's value: one of Allowed; any other is refused with
// `unknown <What> "<value>": use <Hint>`.
type FormatValue[T ~string] struct {
	Value      *T
	Allowed    []T
	What, Hint string
}

func (v *FormatValue[T]) String() string { return string(*v.Value) }
func (v *FormatValue[T]) Type() string   { return "format" }
func (v *FormatValue[T]) Set(s string) error {
	if !slices.Contains(v.Allowed, T(s)) {
		return fmt.Errorf("unknown %s %q: use %s", v.What, s, v.Hint)
	}
	*v.Value = T(s)
	return nil
}

// Machine reports whether f is a serialised format rather than a human table.
func (f Format) Machine() bool { return f == JSON || f == YAML || f == SARIF }

// Write serialises v (which carries json tags: that is the stable schema) as JSON or YAML.
func Write(w io.Writer, f Format, v any) error {
	switch f {
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
}

// WriteStreamed writes one document of a stream: a compact JSON line (JSON Lines), or a YAML
// document after a "---" separator, so that `-o yaml` of a watch is a YAML stream.
func WriteStreamed(w io.Writer, f Format, v any) error {
	if f == YAML {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(append([]byte("---\n"), b...))
		return err
	}
	return json.NewEncoder(w).Encode(v)
}

// Style is one lipgloss style that is a no-op without colour and never pads multi-line text.
type Style struct {
	st lipgloss.Style
	on bool
}

// Render styles each line of text separately (lipgloss would pad every line to the widest).
func (s Style) Render(text string) string {
	if !s.on || text == "" {
		return text
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = s.st.Render(l)
		}
	}
	return strings.Join(lines, "\n")
}

// Styles colours human output; every style is a no-op when colour is off.
type Styles struct {
	Color                                bool
	Bold, Dim, OK, Warn, Fail, Info, Key Style
}

// StylesFor enables colour only when w is a terminal and NO_COLOR is unset (https://no-color.org).
func StylesFor(w io.Writer) Styles {
	color := Terminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
	r := lipgloss.NewRenderer(w)
	r.SetColorProfile(termenv.ANSI256)
	mk := func(st lipgloss.Style) Style { return Style{st: st, on: color} }
	return Styles{
		Color: color,
		Bold:  mk(r.NewStyle().Bold(true)),
		Dim:   mk(r.NewStyle().Faint(true)),
		OK:    mk(r.NewStyle().Foreground(lipgloss.Color("2"))),
		Warn:  mk(r.NewStyle().Foreground(lipgloss.Color("3"))),
		Fail:  mk(r.NewStyle().Foreground(lipgloss.Color("1")).Bold(true)),
		Info:  mk(r.NewStyle().Foreground(lipgloss.Color("6"))),
		Key:   mk(r.NewStyle().Bold(true)),
	}
}

// Terminal reports whether w is a terminal (not a pipe, file or buffer).
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Status colours a verdict word by its meaning.
func (s Styles) Status(word string) string {
	switch strings.ToUpper(word) {
	case "OK", "HEALTHY", "PASS":
		return s.OK.Render(word)
	case "WARN", "STALE", "SKIPPED", "NOHOLDER":
		return s.Warn.Render(word)
	case "FAIL", "EXPIRED", "ORPHANED", "MISSING", "DISABLED":
		return s.Fail.Render(word)
	}
	return word
}

// Table is a kubectl-style table: upper-case headers, columns separated by three spaces. A row with
// fewer cells than headers ends in a cell that spans the rest of the line (an error message in place
// of the remaining columns) and does not widen its column.
type Table struct {
	Headers []string
	Rows    [][]string
}

// Render writes the table; cell widths ignore ANSI styling.
func (t Table) Render(w io.Writer, s Styles) error {
	widths := make([]int, len(t.Headers))
	for i, h := range t.Headers {
		widths[i] = lipgloss.Width(h)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			if len(r) < len(widths) && i == len(r)-1 {
				break
			}
			if i < len(widths) && lipgloss.Width(c) > widths[i] {
				widths[i] = lipgloss.Width(c)
			}
		}
	}
	line := func(cells []string, style func(string) string) string {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("   ")
			}
			if style != nil {
				c = style(c)
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-lipgloss.Width(c)))
			}
		}
		return strings.TrimRight(b.String(), " ") + "\n"
	}
	var b strings.Builder
	b.WriteString(line(t.Headers, func(c string) string { return s.Bold.Render(c) }))
	for _, r := range t.Rows {
		b.WriteString(line(r, nil))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// KV writes "Key:  value" lines aligned on the colon, like kubectl describe.
func KV(w io.Writer, s Styles, pairs [][2]string) error {
	width := 0
	for _, p := range pairs {
		if len(p[0]) > width {
			width = len(p[0])
		}
	}
	var b strings.Builder
	for _, p := range pairs {
		fmt.Fprintf(&b, "%s%s  %s\n", s.Key.Render(p[0]+":"), strings.Repeat(" ", width-len(p[0])), p[1])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
