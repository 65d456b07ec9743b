package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/topology"
	"github.com/karpctl/karpctl/internal/topology/sariftest"
)

func kubeconfig(names ...string) clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	for _, n := range names {
		cfg.Contexts[n] = &clientcmdapi.Context{Cluster: n, AuthInfo: n}
	}
	return *cfg
}

func TestSelect(t *testing.T) {
	cfg := kubeconfig("prod-us", "prod-eu", "staging", "dev")
	for _, tc := range []struct {
		s    Selection
		want string
	}{
		{Selection{Names: []string{"staging", "prod-eu", "staging"}}, "staging,prod-eu"},
		{Selection{All: true}, "dev,prod-eu,prod-us,staging"},
		{Selection{All: true, Pattern: "^prod-"}, "prod-eu,prod-us"},
		{Selection{Pattern: "prod"}, "prod-eu,prod-us"},
	} {
		got, err := Select(cfg, tc.s)
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("%+v: %v %v, want %s", tc.s, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		s    Selection
		want string
	}{
		{Selection{Names: []string{"prod-us", "qa", "uat"}}, `no context "qa", "uat" in the kubeconfig; known contexts: dev, prod-eu, prod-us, staging`},
		{Selection{Names: []string{"prod-us", " "}}, "empty name"},
		{Selection{Pattern: "^qa"}, `"^qa" matches no context; known contexts: dev`},
		{Selection{Pattern: "("}, "not a regular expression"},
		{Selection{Names: []string{"dev"}, All: true}, "use one or the other"},
		{Selection{}, "no contexts selected"},
	} {
		if _, err := Select(cfg, tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
	if _, err := Select(kubeconfig(), Selection{All: true}); err == nil {
		t.Error("an empty kubeconfig selected something")
	}
	var many []string
	for i := range 25 {
		many = append(many, fmt.Sprintf("c%02d", i))
	}
	if _, err := Select(kubeconfig(many...), Selection{Names: []string{"x"}}); err == nil || !strings.HasSuffix(err.Error(), "c19 and 5 more") {
		t.Errorf("long list: %v", err)
	}
}

// A slow context does not hold up the others: they all answer while it is still running, at most
// Parallel run at once, and the outcomes keep the input order.
func TestRunBoundedAndIndependent(t *testing.T) {
	names := []string{"slow", "a", "b", "c", "d", "e"}
	release := make(chan struct{})
	var running, peak atomic.Int32
	outs := Run(context.Background(), names, Options{Parallel: 3, OnAnswer: func(n, total int) {
		if total != len(names) {
			t.Errorf("total %d", total)
		}
		if n == len(names)-1 {
			close(release) // everyone but the slow one has answered
		}
	}}, func(ctx context.Context, name string) (string, int, error) {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		defer running.Add(-1)
		if name == "slow" {
			<-release
		}
		return "answer of " + name, cli.ExitOK, nil
	})
	if peak.Load() > 3 {
		t.Errorf("%d ran at once, want <= 3", peak.Load())
	}
	for i, o := range outs {
		if o.Context != names[i] || o.Result == nil || *o.Result != "answer of "+names[i] || o.Duration <= 0 {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
	if outs[0].Duration < outs[1].Duration {
		t.Errorf("the slow one took %s, less than %s", outs[0].Duration, outs[1].Duration)
	}
}

// At the default --parallel a fleet of 20 is read in one wave, and a fleet of 100 never has more
// than DefaultParallel contexts read at once.
func TestRunDefaultParallel(t *testing.T) {
	for _, n := range []int{20, 100} {
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("c%03d", i)
		}
		want := int32(min(n, DefaultParallel))
		var running, peak atomic.Int32
		Run(context.Background(), names, Options{}, func(ctx context.Context, name string) (int, int, error) {
			r := running.Add(1)
			for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
			}
			defer running.Add(-1)
			// Hold the first wave until it is complete (or, were the bound lower, for a while).
			for deadline := time.Now().Add(2 * time.Second); peak.Load() < want && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			return 0, cli.ExitOK, nil
		})
		if peak.Load() != want {
			t.Errorf("%d contexts: %d read at once, want %d", n, peak.Load(), want)
		}
	}
}

func TestRunErrorsAndPanicsAreOutcomes(t *testing.T) {
	outs := Run(context.Background(), []string{"ok", "bad", "sick", "boom", "nokarp"}, Options{}, func(_ context.Context, name string) (int, int, error) {
		switch name {
		case "bad":
			return 0, 0, fmt.Errorf("listing Deployments: %w", errors.New("dial tcp 127.0.0.1:1: connect: connection refused\n"))
		case "sick":
			return 2, cli.ExitUnhealthy, nil
		case "boom":
			panic("nil map")
		case "nokarp":
			return 0, 0, cli.UsageError("no Deployment with labels app=karpenter")
		}
		return 1, cli.ExitOK, nil
	})
	if outs[1].Result != nil || outs[1].ExitCode != cli.ExitAPI || strings.Contains(outs[1].Error, "\n") || !strings.Contains(outs[1].Error, "connection refused") {
		t.Errorf("error outcome %+v", outs[1])
	}
	if outs[3].ExitCode != cli.ExitAPI || !strings.Contains(outs[3].Error, "boom") {
		t.Errorf("panic outcome %+v", outs[3])
	}
	s := Summarize(outs)
	if s.Total != 5 || s.Healthy != 1 || s.Unhealthy != 1 || s.Unreachable != 2 || s.Failed != 1 || s.ExitCode != cli.ExitUnhealthy || strings.Join(s.Bad, ",") != "bad (unreachable),sick (unhealthy),boom (unreachable),nokarp (no answer)" {
		t.Errorf("summary %+v", s)
	}
	if s := Summarize(outs[:2]); s.ExitCode != cli.ExitAPI {
		t.Errorf("ok+unreachable exit %d", s.ExitCode)
	}
	b, _ := json.Marshal(outs[:2])
	if !strings.Contains(string(b), `{"context":"ok","result":1,"exitCode":0,"durationSeconds":`) || !strings.Contains(string(b), `{"context":"bad","error":"listing Deployments`) {
		t.Errorf("json %s", b)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	outs := Run(ctx, []string{"a", "b"}, Options{Parallel: 1}, func(ctx context.Context, _ string) (int, int, error) {
		<-ctx.Done()
		return 0, 0, ctx.Err()
	})
	if time.Since(start) > time.Second || outs[0].Error == "" || outs[1].Error == "" {
		t.Fatalf("%+v", outs)
	}
}

func TestSARIFMergesContexts(t *testing.T) {
	rep := func(ids ...string) *topology.Report {
		r := &topology.Report{Mode: "live", Profile: topology.ProfileBasic, Namespace: "karpenter", Name: "karpenter"}
		for _, id := range ids {
			rule, _ := topology.RuleByID(id)
			r.Findings = append(r.Findings, topology.Finding{ID: id, Severity: rule.Severity, Message: "m", Remediation: "fix", Object: "Deployment karpenter/karpenter"})
		}
		return r
	}
	id := topology.Rules[0].ID
	outs := []Outcome[topology.Report]{
		{Context: "east", Result: rep(id)},
		{Context: "west", Result: rep(id, topology.Rules[1].ID)},
		{Context: "down", Error: "connection refused", ExitCode: cli.ExitAPI},
	}
	log := SARIF(outs, "v1")
	b, err := json.Marshal(log)
	if err != nil {
		t.Fatal(err)
	}
	if err := sariftest.Validate(b); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	res := log.Runs[0].Results
	if len(log.Runs) != 1 || len(res) != 3 || res[0].Properties["context"] != "east" || res[1].Properties["context"] != "west" || res[2].Properties["context"] != "west" {
		t.Fatalf("results %+v", res)
	}
	ctxs := log.Runs[0].Properties["contexts"].([]map[string]any)
	if len(ctxs) != 3 || ctxs[2]["error"] != "connection refused" || ctxs[0]["object"] != "Deployment karpenter/karpenter" || ctxs[0]["summary"] == nil {
		t.Fatalf("run properties %+v", ctxs)
	}
	// A single audit's SARIF is unchanged: no properties on its results.
	one, _ := json.Marshal(topology.ToSARIF(*rep(id), "v1", nil))
	if strings.Contains(string(one), `"context"`) {
		t.Fatalf("single-cluster SARIF carries a context: %s", one)
	}
}
