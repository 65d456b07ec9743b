package commands

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/karpctl/karpctl/internal/drill"
	"github.com/karpctl/karpctl/internal/engine"
	"github.com/karpctl/karpctl/internal/explain"
	"github.com/karpctl/karpctl/internal/fleet"
	"github.com/karpctl/karpctl/internal/health"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/internal/units"
	"github.com/karpctl/karpctl/internal/versions"
)

var update = flag.Bool("update", false, "rewrite docs/json-schema.md from the result structs")

// The -o json|yaml schemas are the result structs' json tags. docs/json-schema.md lists every field;
// this test fails when a struct changes without the document, so a rename or removal (which would
// break users' scripts) cannot slip through. Regenerate with: go test ./internal/commands -run Schema -update
func TestJSONSchemaDocumented(t *testing.T) {
	var b strings.Builder
	b.WriteString(schemaIntro)
	for _, s := range []struct {
		title string
		v     any
	}{
		{"`kubectl karpctl lease -o json|yaml`", lease.Status{}},
		{"`kubectl karpctl lease --watch -o json`: one `{\"event\": …}` per line", lease.Event{}},
		{"`kubectl karpctl lease --watch -o json`: the last line, `{\"summary\": …}`", lease.Summary{}},
		{"`kubectl karpctl audit-topology -o json|yaml`", topology.Report{}},
		{"`kubectl karpctl plan --dry-run -o json|yaml`", engine.PlanReport{}},
		{"`kubectl karpctl instance-types -o json|yaml`", engine.InstanceTypeList{}},
		{"`kubectl karpctl disrupt --dry-run -o json|yaml`", engine.DisruptReport{}},
		{"`kubectl karpctl explain -o json|yaml`", explain.Report{}},
		{"`kubectl karpctl explain node|nodeclaim NAME -o json|yaml`", explain.NodeReport{}},
		{"`kubectl karpctl health -o json|yaml`", health.Report{}},
		{"`kubectl karpctl drill leader-kill|zone-outage -o json|yaml` and `--report FILE`", drill.Report{}},
		{"Each line of the drill history file (`$XDG_STATE_HOME/karpctl/drills.jsonl`)", drill.HistoryEntry{}},
		{"`kubectl karpctl drill history -o json|yaml`", drill.History{}},
		{"`kubectl karpctl version -o json|yaml`", versions.Info{}},
		{"`kubectl karpctl top --once -o json|yaml`", top.Screen{}},
		{fleetSchemaTitle, fleet.Outcome[struct{}]{}},
	} {
		fmt.Fprintf(&b, "\n## %s\n\n", s.title)
		if note := schemaNotes[s.title]; note != "" {
			b.WriteString(note + "\n\n")
		}
		b.WriteString("| field | type |\n| --- | --- |\n")
		fields(reflect.TypeOf(s.v), "", map[reflect.Type]bool{}, &b)
	}
	path := filepath.Join("..", "..", "docs", "json-schema.md")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(have) != b.String() {
		t.Fatalf("%s is out of date with the result structs: a field was added, renamed or removed. Adding is fine; renaming or removing breaks users. Regenerate with `go test ./internal/commands -run Schema -update`", path)
	}
}

const fleetSchemaTitle = "`kubectl karpctl lease|health|audit-topology|version --contexts …|--all-contexts -o json|yaml`"

// schemaNotes are paragraphs printed under a section's title, before its fields.
var schemaNotes = map[string]string{
	"`kubectl karpctl explain -o json|yaml`": "`outcome.kind` is Running, ExistingNode, NewNodeClaim or Unschedulable; `nodePools[].verdict` is Launches,\n" +
		"Launchable, Blocked, Skipped or NotNeeded; `nodePools[].reasons[].kind` is one of Taint, Requirement, Limit, Resources,\n" +
		"Offering, MinValues, NodeClass, Volume, Topology, Affinity, HostPort. Each reason was confirmed by a counterfactual\n" +
		"run of Karpenter's scheduler.",
	fleetSchemaTitle: "A list with one entry per context, in the order of `--contexts` (by name with `--all-contexts`). `result` is that\n" +
		"command's single-cluster schema above; `error` (the one-line error) replaces it when the context could not\n" +
		"answer. `exitCode` is what the single-cluster command would exit with there; `durationSeconds` how long it took.",
}

const schemaIntro = `# JSON/YAML output schemas

Generated from the result structs by ` + "`go test ./internal/commands -run Schema -update`" + `; a test keeps it in
step with the code. Field names are stable: fields are only ever added. YAML output has the same fields.
Times are RFC 3339 strings; durations are numbers of seconds (fields ending in ` + "`Seconds`" + `).
Optional fields (pointers, ` + "`omitempty`" + `) are left out when unknown or empty.
`

func fields(t reflect.Type, prefix string, seen map[reflect.Type]bool, b *strings.Builder) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) || t == reflect.TypeOf(resource.Quantity{}) || seen[t] {
		return
	}
	seen[t] = true
	defer delete(seen, t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" && f.Anonymous {
			fields(f.Type, prefix, seen, b)
			continue
		}
		fmt.Fprintf(b, "| `%s%s` | %s |\n", prefix, name, jsonType(f.Type))
		child := prefix + name
		switch ft := deref(f.Type); {
		case ft.Kind() == reflect.Slice:
			child += "[]"
		case ft.Kind() == reflect.Map:
			child += ".KEY"
		}
		fields(f.Type, child+".", seen, b)
	}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// enums lists the values of the string types whose values scripts compare against.
var enums = map[reflect.Type][]string{
	reflect.TypeOf(lease.Verdict("")):        {string(lease.Healthy), string(lease.Stale), string(lease.Expired), string(lease.NoHolder), string(lease.Orphaned), string(lease.Disabled), string(lease.Missing)},
	reflect.TypeOf(lease.EventKind("")):      {string(lease.EventObserved), string(lease.EventAcquired), string(lease.EventReleased), string(lease.EventExpired), string(lease.EventRenewed), string(lease.EventDeleted), string(lease.EventMissing), string(lease.EventSilent), string(lease.EventResumed)},
	reflect.TypeOf(health.Status("")):        {string(health.OK), string(health.Warn), string(health.Fail), string(health.Skipped)},
	reflect.TypeOf(topology.Profile("")):     {string(topology.ProfileTest), string(topology.ProfileBasic), string(topology.ProfileCritical)},
	reflect.TypeOf(topology.Severity("")):    {string(topology.Error), string(topology.Warning), string(topology.Info)},
	reflect.TypeOf(topology.CheckStatus("")): {string(topology.Passed), string(topology.Failed), string(topology.Skipped)},
	reflect.TypeOf(drill.Kind("")):           {string(drill.LeaderKill), string(drill.ZoneOutage)},
	reflect.TypeOf(drill.Mode("")):           {string(drill.Evict), string(drill.Hard)},
	reflect.TypeOf(drill.Result("")):         {string(drill.Pass), string(drill.Fail), string(drill.Refused), string(drill.DryRun)},
	reflect.TypeOf(drill.Path("")):           {string(drill.Released), string(drill.Expired), string(drill.Continued), `"" (no new holder seen)`},
}

func jsonType(t reflect.Type) string {
	t = deref(t)
	if vs, ok := enums[t]; ok {
		return "string: " + strings.Join(vs, " \\| ")
	}
	switch {
	case t == reflect.TypeOf(time.Time{}):
		return "time (RFC 3339)"
	case t == reflect.TypeOf(resource.Quantity{}):
		return "string (Kubernetes quantity, e.g. 1930m, 6903Mi)"
	case t == reflect.TypeOf(units.Seconds(0)):
		return "number"
	case t.Kind() == reflect.String:
		return "string"
	case t.Kind() == reflect.Bool:
		return "boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Slice:
		return "array of " + jsonType(t.Elem())
	case t.Kind() == reflect.Map:
		return "object of " + jsonType(t.Elem())
	}
	return "object"
}
