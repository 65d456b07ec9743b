package alerts

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// Format is how Render writes the groups.
type Format string

const (
	// PrometheusRuleFormat is a monitoring.coreos.com/v1 PrometheusRule for the Prometheus Operator.
	PrometheusRuleFormat Format = "prometheusrule"
	// RulesFormat is a plain Prometheus rule file (rule_files:).
	RulesFormat Format = "rules"
)

// Formats lists the formats Render accepts.
var Formats = []Format{PrometheusRuleFormat, RulesFormat}

// RuleFile is a Prometheus rule file, and a PrometheusRule's spec.
type RuleFile struct {
	Groups []Group `json:"groups"`
}

// PrometheusRule is the Prometheus Operator's rule object (only the fields karpctl writes).
type PrometheusRule struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   ObjectMeta `json:"metadata"`
	Spec       RuleFile   `json:"spec"`
}

// ObjectMeta is the PrometheusRule's metadata.
type ObjectMeta struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// NewPrometheusRule wraps groups in a PrometheusRule.
func NewPrometheusRule(name, namespace string, labels map[string]string, groups []Group) PrometheusRule {
	return PrometheusRule{
		APIVersion: "monitoring.coreos.com/v1",
		Kind:       "PrometheusRule",
		Metadata:   ObjectMeta{Name: name, Namespace: namespace, Labels: labels},
		Spec:       RuleFile{Groups: groups},
	}
}

// Render writes v (a RuleFile or PrometheusRule holding groups) as YAML, with header as the document's
// leading comment and each rule's Why as a comment above it. It marshals with sigs.k8s.io/yaml (the
// json tags are the schema) and adds the comments on a yaml.v3 node tree.
func Render(w io.Writer, v any, groups []Group, header string) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshalling rules: %w", err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("re-reading rules: %w", err)
	}
	why := map[string]string{}
	for _, g := range groups {
		for _, r := range g.Rules {
			why[r.Name()] = r.Why
		}
	}
	annotate(&doc, why)
	doc.HeadComment = comment(header)
	var buf bytes.Buffer
	enc := yamlv3.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("writing rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// annotate finds every rule mapping (one with an alert or record key), moves that key first and puts
// the rule's justification above it.
func annotate(n *yamlv3.Node, why map[string]string) {
	if n.Kind == yamlv3.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if (k == "alert" || k == "record") && n.Content[i+1].Kind == yamlv3.ScalarNode {
				key, val := n.Content[i], n.Content[i+1]
				rest := append(append([]*yamlv3.Node{}, n.Content[:i]...), n.Content[i+2:]...)
				n.Content = append([]*yamlv3.Node{key, val}, rest...)
				if c := why[val.Value]; c != "" {
					n.HeadComment = comment(c)
				}
				break
			}
		}
	}
	for _, c := range n.Content {
		annotate(c, why)
	}
}

func comment(s string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("# "+l, " ")
	}
	return strings.Join(lines, "\n")
}
