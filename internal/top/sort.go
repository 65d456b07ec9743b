package top

import (
	"fmt"
	"sort"
	"strings"
)

// SortKey orders the nodes.
type SortKey string

const (
	// SortNodePool groups the nodes by NodePool (NodePools by name, nodes without one last), then
	// by name.
	SortNodePool SortKey = "nodepool"
	// SortCreation puts the newest nodes first.
	SortCreation SortKey = "creation"
	// SortPrice puts the most expensive first.
	SortPrice SortKey = "price"
	// SortFill puts the fullest (requests of the first shown resource over allocatable) first.
	SortFill SortKey = "fill"
)

// SortKeys are the valid keys, in the order `s` cycles through them.
var SortKeys = []SortKey{SortNodePool, SortCreation, SortPrice, SortFill}

// ParseSort checks a sort key.
func ParseSort(s string) (SortKey, error) {
	for _, k := range SortKeys {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(SortKeys))
	for i, k := range SortKeys {
		names[i] = string(k)
	}
	return "", fmt.Errorf("unknown sort key %q (want one of %s)", s, strings.Join(names, ", "))
}

// NextSort is the key after k in SortKeys, wrapping around.
func NextSort(k SortKey) SortKey {
	for i, s := range SortKeys {
		if s == k {
			return SortKeys[(i+1)%len(SortKeys)]
		}
	}
	return SortNodePool
}

func sortNodes(rows []NodeRow, key SortKey, resource string) {
	price := func(r NodeRow) float64 {
		if r.PricePerHour == nil {
			return -1
		}
		return *r.PricePerHour
	}
	less := func(a, b NodeRow) bool {
		switch key {
		case SortCreation:
			if !a.Created.Equal(b.Created) {
				return a.Created.After(b.Created)
			}
		case SortPrice:
			if price(a) != price(b) {
				return price(a) > price(b)
			}
		case SortFill:
			if fa, fb := a.Usage[resource].Fill(), b.Usage[resource].Fill(); fa != fb {
				return fa > fb
			}
		default:
			if a.NodePool != b.NodePool {
				if a.NodePool == "" || b.NodePool == "" {
					return b.NodePool == ""
				}
				return a.NodePool < b.NodePool
			}
		}
		return a.Name < b.Name
	}
	sort.SliceStable(rows, func(i, j int) bool { return less(rows[i], rows[j]) })
}
