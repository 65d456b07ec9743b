package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	karpv1 "sigs.k8s.io/karpenter/pkg/apis/v1"
)

// fileInstanceType is one element of Karpenter's kwok instance-types JSON
// (kwok/cloudprovider/helpers.go InstanceTypeOptions). "labels" is karpctl's extension: when present
// it replaces the labels the kwok provider would derive from the name.
type fileInstanceType struct {
	Name             string              `json:"name"`
	Offerings        []fileOffering      `json:"offerings"`
	Architecture     string              `json:"architecture"`
	OperatingSystems []string            `json:"operatingSystems"`
	Resources        corev1.ResourceList `json:"resources"`
	Labels           map[string]string   `json:"labels,omitempty"`
}

type fileOffering struct {
	Price               float64                          `json:"Price"`
	Available           bool                             `json:"Available"`
	ReservationCapacity int                              `json:"ReservationCapacity,omitempty"`
	Requirements        []corev1.NodeSelectorRequirement `json:"Requirements"`
}

// Error is a problem in a catalog file, located as precisely as the decoder allows.
type Error struct {
	File  string // file name or catalog name
	Line  int    // 1-based, 0 when unknown
	Col   int
	Index int    // instance type index in the top-level array, -1 when not inside one
	Field string // JSON field path when known
	Err   error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	if e.Index >= 0 {
		fmt.Fprintf(&b, ": instance type #%d", e.Index)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %s", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Load reads a catalog file in the kwok instance-types format. Instance types without "labels" get the
// labels Karpenter's kwok provider derives (karpenter.kwok.sh/instance-*). NodePools referencing a
// KWOKNodeClass or an EC2NodeClass may use it.
func Load(path string) (*Catalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading catalog: %w", err)
	}
	return Parse(path, data, KwokLabels, KWOKNodeClass, EC2NodeClass)
}

// Parse decodes a catalog in the kwok instance-types format. derive, when not nil, supplies labels for
// instance types that carry none. Unknown fields are errors, so that typos do not silently change a plan.
func Parse(name string, data []byte, derive func(name string, capacity corev1.ResourceList) map[string]string, nodeClasses ...schema.GroupKind) (*Catalog, error) {
	fail := func(off int64, index int, field string, err error) error {
		line, col := position(data, off)
		return &Error{File: name, Line: line, Col: col, Index: index, Field: field, Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fail(dec.InputOffset(), -1, "", fmt.Errorf("not JSON: %w", unwrapSyntax(err)))
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fail(0, -1, "", errors.New("expected a JSON array of instance types"))
	}
	c := &Catalog{Name: name, NodeClasses: nodeClasses}
	seen := map[string]int{}
	for i := 0; dec.More(); i++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, fail(se.Offset, i, "", unwrapSyntax(err))
			}
			return nil, fail(dec.InputOffset(), i, "", err)
		}
		// skip whitespace and the comma the decoder counts before the element
		for start < int64(len(data)) && strings.ContainsRune(" \t\r\n,", rune(data[start])) {
			start++
		}
		var fit fileInstanceType
		inner := json.NewDecoder(bytes.NewReader(raw))
		inner.DisallowUnknownFields()
		if err := inner.Decode(&fit); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fail(start+te.Offset, i, te.Field, fmt.Errorf("cannot use JSON %s as %s", te.Value, te.Type))
			}
			if msg := err.Error(); strings.Contains(msg, "unknown field") {
				field := msg[strings.Index(msg, "unknown field")+len("unknown field "):]
				return nil, fail(start, i, strings.Trim(field, `"`), errors.New("unknown field"))
			}
			return nil, fail(start, i, "", err)
		}
		it, field, err := convert(fit, derive)
		if err != nil {
			return nil, fail(start, i, field, err)
		}
		if j, dup := seen[it.Name]; dup {
			return nil, fail(start, i, "name", fmt.Errorf("duplicate instance type %q (also #%d)", it.Name, j))
		}
		seen[it.Name] = i
		c.InstanceTypes = append(c.InstanceTypes, it)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fail(dec.InputOffset(), -1, "", unwrapSyntax(err))
	}
	if dec.More() {
		return nil, fail(dec.InputOffset(), -1, "", errors.New("data after the top-level array"))
	}
	if len(c.InstanceTypes) == 0 {
		return nil, fail(0, -1, "", errors.New("no instance types"))
	}
	return c, nil
}

func convert(f fileInstanceType, derive func(string, corev1.ResourceList) map[string]string) (InstanceType, string, error) {
	it := InstanceType{Name: f.Name, Architecture: f.Architecture, OperatingSystems: f.OperatingSystems}
	if f.Name == "" {
		return it, "name", errors.New("missing")
	}
	if errs := validationLabelValue(f.Name); errs != "" {
		return it, "name", fmt.Errorf("%q is not a valid label value: %s", f.Name, errs)
	}
	if f.Architecture == "" {
		return it, "architecture", errors.New("missing")
	}
	if len(f.OperatingSystems) == 0 {
		it.OperatingSystems = []string{string(corev1.Linux)}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := f.Resources[r]
		if !ok {
			return it, "resources." + string(r), errors.New("missing")
		}
		if q.Sign() < 0 { // zero is allowed: the AWS source lists t1.micro with memory 0
			return it, "resources." + string(r), fmt.Errorf("must not be negative, got %s", q.String())
		}
	}
	// as kwok's setDefaultOptions: 110 pods unless given
	it.Capacity = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}
	for k, v := range f.Resources {
		it.Capacity[k] = v
	}
	it.Overhead = defaultOverhead()
	switch {
	case f.Labels != nil:
		it.Labels = f.Labels
	case derive != nil:
		it.Labels = derive(f.Name, it.Capacity)
	}
	if len(f.Offerings) == 0 {
		return it, "offerings", errors.New("no offerings")
	}
	for j, fo := range f.Offerings {
		field := fmt.Sprintf("offerings[%d]", j)
		if math.IsNaN(fo.Price) || math.IsInf(fo.Price, 0) || fo.Price < 0 {
			return it, field + ".Price", fmt.Errorf("invalid price %v", fo.Price)
		}
		o := Offering{Price: fo.Price, Available: true, ReservationCapacity: fo.ReservationCapacity} // kwok marks every offering available
		for k, r := range fo.Requirements {
			rf := fmt.Sprintf("%s.Requirements[%d]", field, k)
			if r.Operator != corev1.NodeSelectorOpIn || len(r.Values) != 1 {
				return it, rf, fmt.Errorf("want operator In with one value, got %s %v", r.Operator, r.Values)
			}
			switch r.Key {
			case corev1.LabelTopologyZone:
				o.Zone = r.Values[0]
			case karpv1.CapacityTypeLabelKey:
				o.CapacityType = r.Values[0]
			default:
				return it, rf + ".key", fmt.Errorf("unsupported key %q (want %s or %s)", r.Key, corev1.LabelTopologyZone, karpv1.CapacityTypeLabelKey)
			}
		}
		if o.Zone == "" {
			return it, field + ".Requirements", fmt.Errorf("no %s requirement", corev1.LabelTopologyZone)
		}
		if o.CapacityType == "" {
			return it, field + ".Requirements", fmt.Errorf("no %s requirement", karpv1.CapacityTypeLabelKey)
		}
		it.Offerings = append(it.Offerings, o)
	}
	return it, "", nil
}

var labelValueRE = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)

func validationLabelValue(v string) string {
	if len(v) > 63 {
		return "longer than 63 characters"
	}
	if !labelValueRE.MatchString(v) {
		return "must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
	}
	return ""
}

var (
	awsSizeRE   = regexp.MustCompile(`^\w+\.(nano|micro|small|medium|large|\d*xlarge|metal)$`)
	familyDelim = regexp.MustCompile(`[.-]`)
)

// KwokLabels derives the labels Karpenter's kwok provider gives an instance type
// (kwok/cloudprovider/helpers.go setDefaultOptions).
func KwokLabels(name string, capacity corev1.ResourceList) map[string]string {
	cpu, mem := capacity[corev1.ResourceCPU], capacity[corev1.ResourceMemory]
	size := cpu.String()
	if m := awsSizeRE.FindStringSubmatch(name); m != nil {
		size = m[1]
	}
	family := name[:1]
	if parts := familyDelim.Split(name, 2); len(parts) == 2 {
		family = parts[0]
	}
	return map[string]string{
		KwokInstanceSizeLabel:   size,
		KwokInstanceFamilyLabel: family,
		KwokInstanceCPULabel:    cpu.String(),
		KwokInstanceMemoryLabel: mem.String(),
	}
}

func unwrapSyntax(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errors.New(se.Error())
	}
	return err
}

// position converts a byte offset to a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}
