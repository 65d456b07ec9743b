package view

import (
	"strings"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/engine"
)

// The header dates the prices of the region planned for, not only the data file: us-east-1's come
// from the provider's own price table, every other region's are older.
func TestInstanceTypesFromDatesThePrices(t *testing.T) {
	d := &engine.AWSData{Generated: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC), SpotEstimated: true, USEast1PricesOf: "2026-07-20", PricesOf: "2025-05-28"}
	for region, want := range map[string]string{
		"us-east-1": "aws us-east-1 (EC2 data of 2026-12-06, prices of 2026-07-20; spot prices are estimates)",
		"eu-west-1": "aws eu-west-1 (EC2 data of 2026-12-06, prices of 2025-05-28; spot prices are estimates)",
	} {
		if got := InstanceTypesFrom("aws", region, d, true); got != want {
			t.Errorf("%s: %q, want %q", region, got, want)
		}
	}
	if got := awsDataLine(*d); !strings.Contains(got, "on-demand prices of 2026-07-20 (us-east-1) and 2025-05-28 (other regions, some estimated)") {
		t.Errorf("version line %q", got)
	}
}
