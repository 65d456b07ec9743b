package fleet

import (
	"github.com/karpctl/karpctl/internal/topology"
)

// SARIF merges a fleet's topology audits into one SARIF log with one run: every context's findings
// as results, each carrying its context in properties.context, and in the run's properties.contexts
// each context's summary (what a single audit's run properties say) or its error.
func SARIF(outcomes []Outcome[topology.Report], toolVersion string) topology.SARIFLog {
	log := topology.ToSARIF(topology.Report{}, toolVersion, nil)
	run := &log.Runs[0]
	contexts := []map[string]any{}
	for _, o := range outcomes {
		entry := map[string]any{"context": o.Context, "exitCode": o.ExitCode}
		if o.Result == nil {
			entry["error"] = o.Error
			contexts = append(contexts, entry)
			continue
		}
		one := topology.ToSARIF(*o.Result, toolVersion, nil).Runs[0]
		for _, r := range one.Results {
			r.Properties = map[string]any{"context": o.Context}
			run.Results = append(run.Results, r)
		}
		for k, v := range one.Properties {
			entry[k] = v
		}
		contexts = append(contexts, entry)
	}
	run.Properties = map[string]any{"mode": "live", "contexts": contexts}
	return log
}
