package aws

import (
	"testing"
	"time"
)

// Both price dates are dates, and us-east-1's (the provider's own table) is not older than the
// other regions'.
func TestPriceDates(t *testing.T) {
	i := DataInfo()
	us, err1 := time.Parse(time.DateOnly, i.USEast1PricesOf)
	others, err2 := time.Parse(time.DateOnly, i.PricesOf)
	if err1 != nil || err2 != nil {
		t.Fatalf("price dates %q, %q: %v %v", i.USEast1PricesOf, i.PricesOf, err1, err2)
	}
	if us.Before(others) || i.PricesDate("us-east-1") != i.USEast1PricesOf || i.PricesDate("eu-west-1") != i.PricesOf {
		t.Errorf("dates %+v", i)
	}
}
