package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
	"github.com/karpctl/karpctl/internal/engine/catalog/aws/reference"
)

// Rerunning on the same inputs keeps the date and rewrites the same bytes; a changed input dates
// the data anew.
func TestGeneratedAtReproducible(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "data.json.gz")
	then := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	data := func() *ec2data.File {
		return &ec2data.File{Sources: []string{"a"}, Types: []ec2data.Type{{Name: "m5.large", VCPUs: 2}},
			Regions: map[string]ec2data.Region{"us-east-1": {OnDemand: []float64{0.096}}}}
	}
	f := data()
	f.Generated = generatedAt(out, f)
	if time.Since(f.Generated) > time.Minute {
		t.Fatalf("first run dated %v", f.Generated)
	}
	f.Generated = then
	write(out, f)
	first, _ := os.ReadFile(out)

	g := data()
	if g.Generated = generatedAt(out, g); !g.Generated.Equal(then) {
		t.Errorf("unchanged inputs: dated %v, want %v", g.Generated, then)
	}
	write(out, g)
	if second, _ := os.ReadFile(out); string(second) != string(first) {
		t.Error("unchanged inputs: the bytes differ")
	}

	h := data()
	h.Types[0].VCPUs = 4
	if h.Generated = generatedAt(out, h); h.Generated.Equal(then) {
		t.Error("a changed input kept the old date")
	}
}

// The ENI limits worked back from the reference's pods give the provider's formula its pods back.
func TestNetworkFromPods(t *testing.T) {
	for _, pods := range []int64{100, 4, 29, 737, 198} {
		var ty ec2data.Type
		r := &reference.Type{Resources: map[string]string{"pods": itoa(pods)}}
		if err := networkFromPods(&ty, r); err != nil {
			t.Fatal(err)
		}
		if got := int64(ty.MaxENIs)*int64(ty.IPv4PerENI-1) + 2; got != pods || ty.From.Network != ec2data.FromReferenceResults {
			t.Errorf("pods %d: %d ENIs × %d IPv4 gives %d (%+v)", pods, ty.MaxENIs, ty.IPv4PerENI, got, ty.From)
		}
	}
	if err := networkFromPods(&ec2data.Type{}, &reference.Type{Resources: map[string]string{}}); err == nil {
		t.Error("no pods: no error")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
