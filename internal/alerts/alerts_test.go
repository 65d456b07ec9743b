package alerts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// testOptions are the defaults of `kubectl karpctl alerts --offline -n karpenter --kube-state-metrics`,
// which the promtool unit tests in testdata/ are written against.
func testOptions() Options {
	return Options{Namespace: "karpenter", KubeStateMetrics: true, RunbookURL: "https://runbooks.example.com/karpenter"}.WithDefaults()
}

func TestDerivedThresholds(t *testing.T) {
	o := testOptions()
	if got := NoLeaderFor(o); got != 2*time.Minute {
		t.Errorf("NoLeaderFor(defaults) = %s, want 2m (2×17s + 2×30s = 94s, rounded up)", got)
	}
	o.LeaseDuration = 60 * time.Second
	if got := NoLeaderFor(o); got != 4*time.Minute {
		t.Errorf("NoLeaderFor(60s lease) = %s, want 4m (2×62s + 2×30s = 184s, rounded up)", got)
	}
	if got := MultipleLeadersFor(Options{ScrapeInterval: 15 * time.Second}); got != time.Minute {
		t.Errorf("MultipleLeadersFor(15s) = %s, want the 1m floor", got)
	}
	if got := MultipleLeadersFor(Options{ScrapeInterval: time.Minute}); got != 2*time.Minute {
		t.Errorf("MultipleLeadersFor(1m) = %s, want 2m", got)
	}
	for replicas, want := range map[int32]int{0: 3, 1: 3, 2: 3, 3: 4, 5: 6} {
		if got := DefaultSwitchThreshold(replicas); got != want {
			t.Errorf("DefaultSwitchThreshold(%d) = %d, want %d", replicas, got, want)
		}
	}
}

func TestBuildUsesRealMetricNamesAndLease(t *testing.T) {
	o := testOptions()
	o.LeaseName, o.Job = "my-lease", "karpenter-metrics"
	groups, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, g := range groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			if r.Alert == "" {
				continue
			}
			if r.Why == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: missing justification, summary or description", r.Alert)
			}
			if !strings.Contains(r.Annotations["description"], "Remediation:") {
				t.Errorf("%s: description has no remediation", r.Alert)
			}
			if want := "https://runbooks.example.com/karpenter#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{`leader_election_master_status{job="karpenter-metrics",name="my-lease"}`, `client_go_request_total{job="karpenter-metrics"`, "kube_pod_container_status_restarts_total"} {
		if !strings.Contains(all, want) {
			t.Errorf("no rule uses %s", want)
		}
	}
	// Names a v1.15.0 does not serve must not appear.
	for _, bad := range []string{"rest_client_requests_total", "leader_election_slowpath_total"} {
		if strings.Contains(all, bad) {
			t.Errorf("rules use %s, which Karpenter v1.15.0 does not serve", bad)
		}
	}
	// Every metric the Karpenter rules read is in the /metrics of a Karpenter v1.15.0 leader.
	scraped, err := os.ReadFile(filepath.Join("..", "health", "testdata", "karpenter-v1.15.0-leader.metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"leader_election_master_status", "client_go_request_total"} {
		if !bytes.Contains(scraped, []byte("# TYPE "+m+" ")) {
			t.Errorf("%s is not among Karpenter v1.15.0's metrics", m)
		}
	}
}

func TestValidate(t *testing.T) {
	for name, mutate := range map[string]func(*Options){
		"threshold 0":      func(o *Options) { o.SwitchThreshold = -1 },
		"ratio 1":          func(o *Options) { o.APIErrorRatio = 1 },
		"short window":     func(o *Options) { o.SwitchWindow = 30 * time.Second },
		"retry > duration": func(o *Options) { o.RetryPeriod = time.Minute },
		"ksm without ns":   func(o *Options) { o.Namespace = "" },
	} {
		o := testOptions()
		mutate(&o)
		if _, err := Build(o); err == nil {
			t.Errorf("%s: Build accepted it", name)
		}
	}
}

// promtool finds promtool: with CI=true a missing one fails the test, otherwise it skips.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (apt-get install prometheus): %v", err)
		}
		t.Skipf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

func runPromtool(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// writeRules renders the rule file for o into dir/rules.yaml.
func writeRules(t *testing.T, dir string, o Options) []Group {
	t.Helper()
	groups, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, RuleFile{Groups: groups}, groups, "test rules"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return groups
}

func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	for _, o := range []Options{testOptions(), Options{}.WithDefaults()} {
		dir := t.TempDir()
		groups := writeRules(t, dir, o)
		out := runPromtool(t, bin, "check", "rules", filepath.Join(dir, "rules.yaml"))
		if !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool check rules: %s", out)
		}
		// The PrometheusRule's spec.groups, extracted, is the same rule file.
		var buf bytes.Buffer
		if err := Render(&buf, NewPrometheusRule("karpenter-alerts", "karpenter", map[string]string{"release": "prom"}, groups), groups, "x"); err != nil {
			t.Fatal(err)
		}
		var pr PrometheusRule
		if err := yaml.UnmarshalStrict(buf.Bytes(), &pr); err != nil {
			t.Fatalf("re-reading PrometheusRule: %v\n%s", err, buf.String())
		}
		if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || len(pr.Spec.Groups) != len(groups) {
			t.Fatalf("PrometheusRule header wrong: %+v", pr.Metadata)
		}
		spec, _ := yaml.Marshal(pr.Spec)
		p := filepath.Join(dir, "spec.yaml")
		if err := os.WriteFile(p, spec, 0o644); err != nil {
			t.Fatal(err)
		}
		if out := runPromtool(t, bin, "check", "rules", p); !strings.Contains(out, "SUCCESS") {
			t.Errorf("promtool check rules (PrometheusRule spec): %s", out)
		}
	}
}

var labelRef = regexp.MustCompile(`\{\{ \$labels\.(\w+) \}\}`)

// TestPromtoolTestRules runs the unit tests in testdata/ against freshly rendered rules. Expected alerts
// there name only labels; the annotations promtool also compares are filled in here from the rendered
// rules, substituting {{ $labels.x }} from the expected labels, so the tests do not repeat the prose.
func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in testdata: %v", err)
	}
	dir := t.TempDir()
	groups := writeRules(t, dir, testOptions())
	annotations := map[string]map[string]string{}
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				annotations[r.Alert] = r.Annotations
			}
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			tests, _ := doc["tests"].([]any)
			for _, tc := range tests {
				cases, _ := tc.(map[string]any)["alert_rule_test"].([]any)
				for _, c := range cases {
					c := c.(map[string]any)
					name, _ := c["alertname"].(string)
					ann, ok := annotations[name]
					if !ok {
						t.Fatalf("%s tests alert %q, which the rules do not define", f, name)
					}
					exp, _ := c["exp_alerts"].([]any)
					for _, e := range exp {
						e := e.(map[string]any)
						if _, given := e["exp_annotations"]; given {
							continue
						}
						labels, _ := e["exp_labels"].(map[string]any)
						filled := map[string]any{}
						for k, v := range ann {
							filled[k] = labelRef.ReplaceAllStringFunc(v, func(m string) string {
								l := labelRef.FindStringSubmatch(m)[1]
								s, _ := labels[l].(string)
								return s
							})
							if strings.Contains(filled[k].(string), "{{") {
								t.Fatalf("%s: annotation %s of %s uses a template the test cannot fill: %s", f, k, name, v)
							}
						}
						e["exp_annotations"] = filled
					}
				}
			}
			out, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.Base(f))
			if err := os.WriteFile(p, out, 0o644); err != nil {
				t.Fatal(err)
			}
			res := runPromtool(t, bin, "test", "rules", p)
			if !strings.Contains(res, "SUCCESS") {
				t.Errorf("promtool test rules %s:\n%s", f, res)
			}
		})
	}
}
