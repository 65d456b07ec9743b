package aws

import (
	"testing"
)

// BenchmarkDecode measures decoding the embedded data (done once per process, on first use).
func BenchmarkDecode(b *testing.B) {
	for b.Loop() {
		if _, err := decode(dataGz); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkModelLoad is what the AWS model adds to a plan: decode the data and build every instance
// type of one EC2NodeClass in one region with the provider's code (target: ≤ 50 ms).
func BenchmarkModelLoad(b *testing.B) {
	nc := al2023(b)
	for b.Loop() {
		f, err := decode(dataGz)
		if err != nil {
			b.Fatal(err)
		}
		its, _, err := instanceTypesFrom(testContext(), f, nc, "us-east-1")
		if err != nil || len(its) == 0 {
			b.Fatal(err, len(its))
		}
	}
}

// BenchmarkInstanceTypes is one more NodeClass once the data is decoded.
func BenchmarkInstanceTypes(b *testing.B) {
	nc := al2023(b)
	if _, err := load(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := InstanceTypes(testContext(), nc, "us-east-1"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList(b *testing.B) {
	nc := al2023(b)
	f, _ := load()
	ctx, _ := withOptions(testContext())
	r := f.Regions["us-east-1"]
	zones, _, _ := nodeClassZones(nc.DeepCopy(), "us-east-1", zonesOf("us-east-1", r))
	for b.Loop() {
		if _, err := list(ctx, f, r, "us-east-1", zones, nc); err != nil {
			b.Fatal(err)
		}
	}
}
