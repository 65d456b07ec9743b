// Package reference reads Karpenter's published instance-types reference
// (website/content/en/<version>/reference/instance-types.md of aws/karpenter-provider-aws): per
// instance type the labels and the allocatable resources Karpenter computes with AL2023 and no block
// device mappings. karpctl does not ship the document; tests and the data generator read a copy
// from a path.
package reference

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Type is one documented instance type.
type Type struct {
	Name      string
	Labels    map[string]string
	Resources map[string]string
}

// Read parses the reference at path.
func Read(path string) (map[string]*Type, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Parse reads the markdown: "### `name`" headings, then "#### Labels" and "#### Resources" tables of
// " |key|value|" rows.
func Parse(r io.Reader) (map[string]*Type, error) {
	out := map[string]*Type{}
	var cur *Type
	var table map[string]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "### `") && strings.HasSuffix(line, "`"):
			name := strings.TrimSuffix(strings.TrimPrefix(line, "### `"), "`")
			cur = &Type{Name: name, Labels: map[string]string{}, Resources: map[string]string{}}
			out[name] = cur
			table = nil
		case cur != nil && line == "#### Labels":
			table = cur.Labels
		case cur != nil && line == "#### Resources":
			table = cur.Resources
		case strings.HasPrefix(line, "## "):
			cur, table = nil, nil
		case table != nil && strings.HasPrefix(line, "|") && !strings.HasPrefix(line, "|--") && !strings.HasPrefix(line, "| "):
			cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|"), "|")
			if len(cells) == 2 {
				table[cells[0]] = cells[1]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no instance types found (expected \"### `name`\" headings)")
	}
	return out, nil
}
