// Package sariftest checks SARIF logs in tests: against the published SARIF 2.1.0 JSON schema, and
// against what code scanning needs beyond it. Only tests import it.
//
// The schema is OASIS's sarif-schema-2.1.0.json (errata01), read at test time from the copy the
// Go module github.com/securego/gosec/v2 ships (report/sarif/testdata), at the version in go.mod.
package sariftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	// Nothing of gosec is used: importing its smallest package keeps the module, and with it the
	// schema file, in go.mod and in the module cache of every test build.
	_ "github.com/securego/gosec/v2/cwe"
)

const (
	schemaModule = "github.com/securego/gosec/v2"
	schemaFile   = "report/sarif/testdata/sarif-schema-2.1.0.json"
	// schemaID is the schema's own id.
	schemaID = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

var schema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	dir, err := moduleDir(schemaModule)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, schemaFile))
	if err != nil {
		return nil, fmt.Errorf("SARIF schema: %w", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("SARIF schema %s: %w", f.Name(), err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemaID, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemaID)
})

// moduleDir is where the module cache holds the version of module that go.mod requires; `go mod
// download` verifies it against go.sum (and fetches it if the cache lacks it).
func moduleDir(module string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", module).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", module, m.Error)
	}
	return m.Dir, nil
}

// Validate checks the serialised log b against the SARIF 2.1.0 schema, then what code scanning
// requires on top of it: a $schema, results in every run, every result's ruleId among its run's
// rules, and at least one location per result.
func Validate(b []byte) error {
	s, err := schema()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if err := s.Validate(doc); err != nil {
		return err
	}
	var log struct {
		Schema string `json:"$schema"`
		Runs   []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results *[]struct {
				RuleID    string            `json:"ruleId"`
				Locations []json.RawMessage `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		return err
	}
	if log.Schema == "" {
		return fmt.Errorf("no $schema")
	}
	for i, run := range log.Runs {
		if run.Results == nil {
			return fmt.Errorf("runs[%d].results missing", i)
		}
		rules := map[string]bool{}
		for _, r := range run.Tool.Driver.Rules {
			rules[r.ID] = true
		}
		for j, res := range *run.Results {
			if !rules[res.RuleID] {
				return fmt.Errorf("runs[%d].results[%d].ruleId %q not among the rules", i, j, res.RuleID)
			}
			if len(res.Locations) == 0 {
				return fmt.Errorf("runs[%d].results[%d].locations empty", i, j)
			}
		}
	}
	return nil
}
