package output

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

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

func TestTableSpanningRow(t *testing.T) {
	var b bytes.Buffer
	tab := Table{Headers: []string{"CONTEXT", "VERDICT", "LEADER", "ZONE"}, Rows: [][]string{
		{"east", "Healthy", "karpenter-a", "zone-a"},
		{"down", "ERROR", "dial tcp 127.0.0.1:1: connect: connection refused"},
	}}
	if err := tab.Render(&b, StylesFor(&b)); err != nil {
		t.Fatal(err)
	}
	want := "CONTEXT   VERDICT   LEADER        ZONE\neast      Healthy   karpenter-a   zone-a\ndown      ERROR     dial tcp 127.0.0.1:1: connect: connection refused\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestProgress(t *testing.T) {
	text := func(done, total int) string { return fmt.Sprintf("%d/%d clusters answered", done, total) }
	// Quick: done before the delay, nothing written.
	var quick bytes.Buffer
	p := newProgress(&quick, time.Hour, text, true)
	p.Update(1, 2)
	p.Done()
	if quick.String() != "" {
		t.Fatalf("quick run wrote %q", quick.String())
	}
	// Slow: shown after the delay, redrawn in place, erased at the end.
	// (The buffer is read only under the progress's lock or after Done: the timer writes to it.)
	var slow bytes.Buffer
	p = newProgress(&slow, 10*time.Millisecond, text, true)
	p.Update(1, 3)
	shown := func() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.shown }
	for deadline := time.Now().Add(5 * time.Second); !shown() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	p.Update(2, 3)
	p.Done()
	p.Update(3, 3)
	if want := "\r\033[K1/3 clusters answered\r\033[K2/3 clusters answered\r\033[K"; slow.String() != want {
		t.Fatalf("got %q, want %q", slow.String(), want)
	}
	// Not a terminal: never anything.
	var off bytes.Buffer
	p = NewProgress(&off, 0, text)
	time.Sleep(20 * time.Millisecond)
	p.Update(1, 1)
	p.Done()
	if off.Len() != 0 {
		t.Fatalf("wrote to a buffer: %q", off.String())
	}
}

// A stream is JSON Lines, or YAML documents each after "---".
func TestWriteStreamed(t *testing.T) {
	var j, y strings.Builder
	for _, v := range []map[string]int{{"a": 1}, {"b": 2}} {
		if err := WriteStreamed(&j, JSON, v); err != nil {
			t.Fatal(err)
		}
		if err := WriteStreamed(&y, YAML, v); err != nil {
			t.Fatal(err)
		}
	}
	if j.String() != "{\"a\":1}\n{\"b\":2}\n" || y.String() != "---\na: 1\n---\nb: 2\n" {
		t.Errorf("json %q yaml %q", j.String(), y.String())
	}
}
