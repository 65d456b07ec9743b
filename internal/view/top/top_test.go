package top

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
	"github.com/karpctl/karpctl/internal/lease"
	"github.com/karpctl/karpctl/internal/output"
	"github.com/karpctl/karpctl/internal/top"
	"github.com/karpctl/karpctl/internal/units"
)

func screen() *top.Screen {
	at := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	p := func(f float64) *float64 { return &f }
	half := 0.4
	s := &top.Screen{
		Cluster: "prod", Context: "prod-admin", ObservedAt: at, PricePerHour: 0.5, PricePerMonth: 365, PendingPods: 1,
		Karpenter: top.Karpenter{Version: "1.15.0", Leader: "karpenter-abc", LeaderFor: units.Seconds(5 * time.Minute),
			Lease: &lease.Status{Verdict: lease.Healthy, RenewTime: &at, RenewAge: units.Seconds(time.Second)}},
		Resources: []string{"cpu"}, Sort: "nodepool",
		NodePools: []top.NodePoolRow{{Name: "default", Nodes: 2, Usage: map[string]top.Usage{"cpu": {Requested: 3.5, Allocatable: 8}},
			LimitUse: &half, LimitResource: "cpu", PricePerHour: 0.5, BudgetAllowed: map[string]int{"Drifted": 1, "Empty": 0}}},
		Pending: []top.PendingPod{{Namespace: "x", Name: "waiting", Age: units.Seconds(time.Minute), Plan: "new NodeClaim of NodePool default"}},
		Next: top.Next{Interval: units.Seconds(10 * time.Second),
			Launch:  &top.LaunchSummary{Computed: top.Computed{At: at}, PendingPods: 1, NewNodeClaims: 1, PricePerHour: 0.1, Groups: []top.NodeClaimLine{{NodePool: "default", Count: 1, InstanceType: "c-4x-amd64-linux", Pods: 1}}},
			Disrupt: &top.DisruptSummary{Computed: top.Computed{At: at}, Method: "Drift", Decision: "replace", Reason: "Drifted", Nodes: []string{"node-a"}}},
	}
	for i, n := range []string{"node-a", "node-b", "node-c"} {
		s.Nodes = append(s.Nodes, top.NodeRow{Name: n, NodePool: "default", InstanceType: "c-4x-amd64-linux", Zone: "test-zone-a", CapacityType: "on-demand",
			PricePerHour: p(0.25), Usage: map[string]top.Usage{"cpu": {Requested: float64(i + 1), Allocatable: 4}}})
	}
	s.Nodes[0].Drifted, s.Nodes[0].Disrupt, s.Nodes[0].Disruption = true, "Drift", "Karpenter would replace it now (Drift, reason Drifted)"
	s.Nodes[1].Cordoned = true
	return s
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, output.StylesFor(&b), screen(), 100); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"cluster prod (context prod-admin)", "Karpenter 1.15.0  leader karpenter-abc for 5m  lease Healthy",
		"Cost $0.50/h  $365/month   Pending pods 1", "default", "40% cpu", "D:1 E:0",
		"node-a", "c-4x-amd64-linux", "D ⇢Drift", "launch:  1 NodeClaims $0.100/h for 1 pending pods",
		"1× default c-4x-amd64-linux", "disrupt: Drift replace node-a (Drifted)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestNarrowAndStale(t *testing.T) {
	s := screen()
	since := s.ObservedAt
	s.Connection = top.Connection{Lost: true, Since: &since, Error: "connection refused"}
	s.Forbidden = []top.Forbidden{{Resource: "nodepools.karpenter.sh", Panel: "nodepools", Grant: "grant list,watch on nodepools.karpenter.sh at cluster scope"}}
	for _, width := range []int{80, 60, 40} {
		m := newModel(nil, top.View{}, output.StylesFor(&bytes.Buffer{}))
		m.Update(tea.WindowSizeMsg{Width: width, Height: 24})
		m.Update(screenMsg{s})
		v := m.View()
		lines := strings.Split(v, "\n")
		if len(lines) > 24 {
			t.Errorf("width %d: %d lines, want ≤ 24", width, len(lines))
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > width {
				t.Errorf("width %d: line of %d columns: %q", width, w, l)
			}
		}
		if width == 80 && (!strings.Contains(v, "API server unreachable") || !strings.Contains(v, "stale") || !strings.Contains(v, "grant list,watch on nodepools")) {
			t.Errorf("stale/forbidden not shown:\n%s", v)
		}
	}
}

// At 80 columns a leader with a real pod name still shows the lease's verdict and its reason: the
// line wraps.
func TestLeaderLineKeepsTheVerdictAt80Columns(t *testing.T) {
	s := screen()
	s.Karpenter.Leader = "karpenter-5b8cdc4575-bbgf2"
	s.Karpenter.LeaderFor = units.Seconds(3*time.Hour + 12*time.Minute)
	s.Karpenter.Lease.Verdict, s.Karpenter.Lease.RenewAge = lease.Stale, units.Seconds(9*time.Second)
	s.Karpenter.Lease.Reason = "the leader has missed its renewals"
	var b bytes.Buffer
	if err := Write(&b, output.StylesFor(&b), s, 80); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "leader karpenter-5b8cdc4575-bbgf2") || !strings.Contains(out, "lease Stale") || !strings.Contains(out, "missed its renewals") {
		t.Errorf("leader or verdict missing at 80 columns:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if w := ansi.StringWidth(l); w > 80 {
			t.Errorf("line of %d columns: %q", w, l)
		}
	}
}

func keys(m *model, ks ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "ctrl+c":
			msg = tea.KeyMsg{Type: tea.KeyCtrlC}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

func TestKeys(t *testing.T) {
	m := newModel(nil, top.View{Sort: top.SortNodePool}, output.StylesFor(&bytes.Buffer{}))
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Update(screenMsg{screen()})
	keys(m, "down", "enter")
	if !strings.Contains(m.View(), "node node-b") {
		t.Errorf("Enter on the second node:\n%s", m.View())
	}
	keys(m, "x", "down", "down", "down", "enter")
	if !strings.Contains(m.View(), "pending pod x/waiting") || !strings.Contains(m.View(), "new NodeClaim of NodePool default") {
		t.Errorf("Enter on the pending pod:\n%s", m.View())
	}
	keys(m, "x", "/", "n", "o", "d", "e", "-", "c", "enter")
	if n, _ := m.rows(); len(n) != 1 || n[0].Name != "node-c" {
		t.Errorf("filter node-c: %v", n)
	}
	keys(m, "s")
	if got := m.shared.view.Load().Sort; got != top.SortCreation {
		t.Errorf("s: sort %s, want creation", got)
	}
	keys(m, "p")
	if !m.shared.paused.Load() || !strings.Contains(m.View(), "PAUSED") {
		t.Error("p does not pause")
	}
	keys(m, "?")
	if !strings.Contains(m.View(), "this help") {
		t.Error("? shows no help")
	}
	keys(m, "x")
	if cmd := keys(m, "q"); cmd == nil || cmd() != tea.Quit() {
		t.Error("q does not quit")
	}
	if cmd := keys(m, "ctrl+c"); cmd == nil || cmd() != tea.Quit() {
		t.Error("Ctrl-C does not quit")
	}
}

// Many nodes and a burst of pending pods at 80×24: the pods show without scrolling, and the
// cursor stays on screen as it moves through the nodes and then the pods.
func TestPendingPodsShowBesideManyNodes(t *testing.T) {
	s := screen()
	base := s.Nodes[0]
	s.Nodes = nil
	for i := range 40 {
		n := base
		n.Name = fmt.Sprintf("node-%02d", i)
		n.NodePool = []string{"default", "spot"}[i/20]
		s.Nodes = append(s.Nodes, n)
	}
	s.Pending = nil
	for i := range 9 {
		s.Pending = append(s.Pending, top.PendingPod{Namespace: "shop", Name: fmt.Sprintf("burst-%d", i), Plan: "new NodeClaim of NodePool default"})
	}
	m := newModel(nil, top.View{Sort: top.SortNodePool}, output.StylesFor(&bytes.Buffer{}))
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(screenMsg{s})
	check := func(wants ...string) {
		t.Helper()
		v := m.View()
		if n := len(strings.Split(v, "\n")); n > 24 {
			t.Errorf("%d lines, want ≤ 24", n)
		}
		for _, w := range wants {
			if !strings.Contains(v, w) {
				t.Errorf("missing %q in\n%s", w, v)
			}
		}
	}
	check("PENDING PODS (1–", "of 9)", "shop/burst-0", "node-00", "NEXT")
	for range 30 {
		keys(m, "down")
	}
	check("▸ node-30", "shop/burst-0")
	for range 10 + 8 {
		keys(m, "down")
	}
	check("▸ shop/burst-8", "node-")
}

// Keys typed faster than the terminal is read reach the model as one message of several runes:
// each counts, as typed one by one.
func TestKeysTypedAtOnce(t *testing.T) {
	m := newModel(nil, top.View{Sort: top.SortNodePool}, output.StylesFor(&bytes.Buffer{}))
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Update(screenMsg{screen()})
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/node-c")})
	m.Update(tea.KeyMsg{Type: tea.KeyEnter})
	if n, _ := m.rows(); len(n) != 1 || n[0].Name != "node-c" || !strings.Contains(m.View(), "filter: node-c") {
		t.Errorf("/node-c typed at once: rows %v\n%s", n, m.View())
	}
	if _, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("sq")}); cmd == nil || cmd() != tea.Quit() || m.shared.view.Load().Sort != top.SortCreation {
		t.Errorf("sq typed at once: sort %s, want creation, then quit", m.shared.view.Load().Sort)
	}
}

// The header says what the predictions run Karpenter's code with when it is not Karpenter's
// defaults, and that it was read at start.
func TestHeaderSaysKarpentersSettings(t *testing.T) {
	s := screen()
	var b bytes.Buffer
	for _, st := range []*karpenter.Settings{nil, karpenter.Defaults()} {
		s.KarpenterSettings = st
		b.Reset()
		if err := Write(&b, output.StylesFor(&b), s, 200); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "Settings:") {
			t.Errorf("a settings line for Karpenter's defaults:\n%s", b.String())
		}
	}
	settings, err := karpenter.Resolve(context.Background(), karpenter.Input{Overrides: []string{"MIN_VALUES_POLICY=BestEffort", "LOG_LEVEL=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	s.KarpenterSettings = settings
	b.Reset()
	if err := Write(&b, output.StylesFor(&b), s, 200); err != nil {
		t.Fatal(err)
	}
	want := "Settings: MIN_VALUES_POLICY=BestEffort (--karpenter-setting); 1 other settings differ, none changes a prediction (-o json lists them) [no Karpenter Deployment read, read at start]"
	if !strings.Contains(b.String(), want) {
		t.Errorf("header lacks %q:\n%s", want, b.String())
	}
}
