package topology

import (
	"strings"
)

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/) — the subset code-scanning tools read.

const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
)

type SARIFLog struct {
	Version string     `json:"version"`
	Schema  string     `json:"$schema"`
	Runs    []SARIFRun `json:"runs"`
}

type SARIFRun struct {
	Tool    SARIFTool     `json:"tool"`
	Results []SARIFResult `json:"results"`
	// Properties carries the report's summary and the checks that were skipped.
	Properties map[string]any `json:"properties,omitempty"`
}

type SARIFTool struct {
	Driver SARIFDriver `json:"driver"`
}

type SARIFDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []SARIFRule `json:"rules"`
}

type SARIFRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     SARIFMessage   `json:"shortDescription"`
	DefaultConfiguration SARIFRuleConf  `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type SARIFRuleConf struct {
	Level string `json:"level"`
}

type SARIFMessage struct {
	Text string `json:"text"`
}

type SARIFResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   SARIFMessage    `json:"message"`
	Locations []SARIFLocation `json:"locations"`
	// Properties is set in a fleet's merged log: the kubeconfig context the finding is from.
	Properties map[string]any `json:"properties,omitempty"`
}

type SARIFLocation struct {
	// PhysicalLocation is set offline (the manifest file); live findings have only a logical location.
	PhysicalLocation *SARIFPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []SARIFLogical `json:"logicalLocations,omitempty"`
}

type SARIFPhysical struct {
	ArtifactLocation SARIFArtifact `json:"artifactLocation"`
}

type SARIFArtifact struct {
	URI string `json:"uri"`
}

type SARIFLogical struct {
	Name               string `json:"name"`
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// SARIFLevel maps a severity: error → error, warning → warning, info → note.
func SARIFLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// ToSARIF converts a report. files (offline: the manifests read) become physical locations.
func ToSARIF(r Report, toolVersion string, files []string) SARIFLog {
	driver := SARIFDriver{Name: "karpctl audit-topology", Version: toolVersion, InformationURI: "https://github.com/karpctl/karpctl", Rules: []SARIFRule{}}
	for _, rule := range Rules {
		driver.Rules = append(driver.Rules, SARIFRule{
			ID: rule.ID, Name: rule.ID, ShortDescription: SARIFMessage{Text: rule.Short},
			DefaultConfiguration: SARIFRuleConf{Level: SARIFLevel(rule.Severity)},
			Properties:           map[string]any{"check": rule.Check, "spec": rule.Spec},
		})
	}
	results := []SARIFResult{}
	for _, f := range r.Findings {
		loc := SARIFLocation{LogicalLocations: []SARIFLogical{{Name: f.Object, FullyQualifiedName: f.Object, Kind: "resource"}}}
		if len(files) > 0 && !strings.HasPrefix(files[0], "<") {
			loc.PhysicalLocation = &SARIFPhysical{ArtifactLocation: SARIFArtifact{URI: files[0]}}
		}
		results = append(results, SARIFResult{
			RuleID: f.ID, RuleIndex: ruleIndex[f.ID], Level: SARIFLevel(f.Severity),
			Message:   SARIFMessage{Text: f.Message + ". Remediation: " + f.Remediation},
			Locations: []SARIFLocation{loc},
		})
	}
	var skipped []CheckResult
	for _, c := range r.Checks {
		if c.Status == Skipped {
			skipped = append(skipped, c)
		}
	}
	return SARIFLog{Version: SARIFVersion, Schema: SARIFSchema, Runs: []SARIFRun{{
		Tool: SARIFTool{Driver: driver}, Results: results,
		Properties: map[string]any{"mode": r.Mode, "profile": r.Profile, "object": "Deployment " + r.Namespace + "/" + r.Name, "summary": r.Summary, "skippedChecks": skipped},
	}}}
}
