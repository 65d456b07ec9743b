package output

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestPlainWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	s := StylesFor(&b)
	if s.Color {
		t.Fatal("colour on a buffer")
	}
	if got := s.Fail.Render("a\nlonger line"); got != "a\nlonger line" {
		t.Fatalf("plain render changed text: %q", got)
	}
}

func TestStyledRenderDoesNotPad(t *testing.T) {
	s := StylesFor(&bytes.Buffer{})
	s.Warn.on = true
	got := s.Warn.Render("a\n\nlonger line")
	for _, l := range strings.Split(got, "\n") {
		if strings.HasSuffix(l, " ") {
			t.Fatalf("padded line %q", l)
		}
	}
}

func TestTableAlignsAndTrims(t *testing.T) {
	var b bytes.Buffer
	tab := Table{Headers: []string{"POD", "ROLE", "ZONE"}, Rows: [][]string{{"karpenter-a", "leader", ""}, {"b", "follower", "zone-b"}}}
	if err := tab.Render(&b, StylesFor(&b)); err != nil {
		t.Fatal(err)
	}
	want := "POD           ROLE       ZONE\nkarpenter-a   leader\nb             follower   zone-b\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestFormatFlag(t *testing.T) {
	var f Format
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	AddFormatFlag(fs, &f, TableFormat, JSON, YAML)
	if f != TableFormat {
		t.Fatalf("default %q", f)
	}
	if err := fs.Parse([]string{"-o", "yaml"}); err != nil || f != YAML {
		t.Fatalf("yaml: %v %q", err, f)
	}
	err := fs.Parse([]string{"-o", "xml"})
	if err == nil || !strings.Contains(err.Error(), "table, json, yaml") {
		t.Fatalf("xml: %v", err)
	}
}

func TestWriteJSONAndYAML(t *testing.T) {
	v := struct {
		Name string `json:"name"`
		N    int    `json:"n,omitempty"`
	}{Name: "x"}
	var j, y bytes.Buffer
	if err := Write(&j, JSON, v); err != nil || j.String() != "{\n  \"name\": \"x\"\n}\n" {
		t.Fatalf("json %q %v", j.String(), err)
	}
	if err := Write(&y, YAML, v); err != nil || y.String() != "name: x\n" {
		t.Fatalf("yaml %q %v", y.String(), err)
	}
}
