package main

import (
	"sort"
	"strings"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// onDemandEstimate describes estimateOnDemand for the data's readers.
const onDemandEstimate = "outside us-east-1, a type without a recorded price there gets its us-east-1 price times the region's median price ratio to us-east-1 over the types priced in both (of its family, else of its category, else of all); Karpenter itself reads the region's prices from the AWS Pricing API"

// estimateOnDemand prices, in every region but us-east-1, the types that have a us-east-1 price
// but none there (the families newer than the per-region source), and lists them as estimated.
func estimateOnDemand(f *ec2data.File) {
	base := f.Regions["us-east-1"].OnDemand
	for name, r := range f.Regions {
		if name == "us-east-1" {
			continue
		}
		family, category := map[string][]float64{}, map[string][]float64{}
		var all []float64
		for i, t := range f.Types {
			if r.OnDemand[i] > 0 && base[i] > 0 {
				ratio := r.OnDemand[i] / base[i]
				family[familyOf(t.Name)] = append(family[familyOf(t.Name)], ratio)
				category[categoryOf(t.Name)] = append(category[categoryOf(t.Name)], ratio)
				all = append(all, ratio)
			}
		}
		if len(all) == 0 {
			continue
		}
		r.OnDemandEstimated = nil
		for i, t := range f.Types {
			if r.OnDemand[i] > 0 || base[i] == 0 {
				continue
			}
			ratio := median(all)
			if v, ok := family[familyOf(t.Name)]; ok {
				ratio = median(v)
			} else if v, ok := category[categoryOf(t.Name)]; ok {
				ratio = median(v)
			}
			r.OnDemand[i] = round6(base[i] * ratio)
			r.OnDemandEstimated = append(r.OnDemandEstimated, int32(i))
		}
		f.Regions[name] = r
	}
}

func familyOf(name string) string { return strings.SplitN(name, ".", 2)[0] }

// categoryOf is the letters before the generation: c8a → c, u7i-6tb → u.
func categoryOf(name string) string {
	fam := familyOf(name)
	if i := strings.IndexAny(fam, "0123456789"); i > 0 {
		return fam[:i]
	}
	return fam
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round6(v float64) float64 { return float64(int64(v*1e6+0.5)) / 1e6 }
