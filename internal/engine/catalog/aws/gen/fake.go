package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"path/filepath"
	"strconv"

	"github.com/karpctl/karpctl/internal/engine/catalog/aws/ec2data"
)

// fakeFile holds EC2's own DescribeInstanceTypes answers for a few types, which the provider
// module records for its tests. It is read as Go source (the package is test support and is not
// imported).
const fakeFile = "pkg/fake/zz_generated.describe_instance_types.go"

// ec2Answer is what fakeFile says of one type, where cristim has nothing or less exact.
type ec2Answer struct {
	efa, neuronCores          int32
	neuronName                string
	encryptionInTransit, seen bool
	clockGHz                  float64
	gpuName                   string
	gpuMemoryMiB              int32
}

// readFake parses fakeFile of the provider module at dir.
func readFake(dir string) map[string]ec2Answer {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, fakeFile), nil, 0)
	if err != nil {
		log.Fatalf("%s: %v", fakeFile, err)
	}
	out := map[string]ec2Answer{}
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || field(lit, "VCpuInfo") == nil {
			return true
		}
		name, _ := strconv.Unquote(scalar(field(lit, "InstanceType")))
		a := ec2Answer{seen: true}
		network := composite(field(lit, "NetworkInfo"))
		a.efa = int32(atoiOr(scalar(field(composite(field(network, "EfaInfo")), "MaximumEfaInterfaces"))))
		a.encryptionInTransit = scalar(field(network, "EncryptionInTransitSupported")) == "true"
		a.clockGHz, _ = strconv.ParseFloat(scalar(field(composite(field(lit, "ProcessorInfo")), "SustainedClockSpeedInGhz")), 64)
		if d := first(field(composite(field(lit, "NeuronInfo")), "NeuronDevices")); d != nil {
			a.neuronName, _ = strconv.Unquote(scalar(field(d, "Name")))
			a.neuronCores = int32(atoiOr(scalar(field(composite(field(d, "CoreInfo")), "Count"))))
		}
		if g := first(field(composite(field(lit, "GpuInfo")), "Gpus")); g != nil {
			a.gpuName, _ = strconv.Unquote(scalar(field(g, "Name")))
			a.gpuMemoryMiB = int32(atoiOr(scalar(field(composite(field(g, "MemoryInfo")), "SizeInMiB"))))
		}
		out[name] = a
		return false
	})
	if len(out) == 0 {
		log.Fatalf("%s: no instance types found", fakeFile)
	}
	return out
}

// applyFake puts EC2's answers into the types it covers, and the Neuron cores per device into
// every type with a device of the same name.
func applyFake(f *ec2data.File, answers map[string]ec2Answer) {
	cores := map[string]int32{}
	for _, a := range answers {
		if a.neuronName != "" && a.neuronCores > 0 {
			cores[a.neuronName] = a.neuronCores
		}
	}
	for i := range f.Types {
		t := &f.Types[i]
		for j := range t.Neuron {
			if c, ok := cores[t.Neuron[j].Name]; ok {
				t.Neuron[j].Cores = c
			}
		}
		a, ok := answers[t.Name]
		if !ok {
			continue
		}
		t.MaxEFA, t.EncryptionInTransit = a.efa, a.encryptionInTransit
		if a.efa > 0 {
			t.From.EFA = ec2data.FromModules
		}
		if a.clockGHz > 0 {
			t.ClockGHz = a.clockGHz
		}
		if len(t.GPUs) == 1 && a.gpuName != "" {
			t.GPUs[0].Name, t.GPUs[0].MemoryMiB = a.gpuName, a.gpuMemoryMiB
		}
	}
}

// field returns the value of key in a keyed composite literal.
func field(lit *ast.CompositeLit, key string) ast.Expr {
	if lit == nil {
		return nil
	}
	for _, e := range lit.Elts {
		if kv, ok := e.(*ast.KeyValueExpr); ok {
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == key {
				return kv.Value
			}
		}
	}
	return nil
}

// composite unwraps &T{...} and T{...}.
func composite(e ast.Expr) *ast.CompositeLit {
	if u, ok := e.(*ast.UnaryExpr); ok {
		e = u.X
	}
	lit, _ := e.(*ast.CompositeLit)
	return lit
}

// first returns the first element of a slice literal.
func first(e ast.Expr) *ast.CompositeLit {
	lit := composite(e)
	if lit == nil || len(lit.Elts) == 0 {
		return nil
	}
	return composite(lit.Elts[0])
}

// scalar returns the literal inside aws.Int32(2), aws.Bool(true), "x", 2.
func scalar(e ast.Expr) string {
	switch v := e.(type) {
	case *ast.BasicLit:
		return v.Value
	case *ast.Ident:
		return v.Name
	case *ast.CallExpr:
		if len(v.Args) == 1 {
			return scalar(v.Args[0])
		}
	}
	return ""
}

func atoiOr(s string) int64 {
	v, _ := strconv.ParseInt(s, 10, 64)
	return v
}
