package aws

import (
	"context"
	"flag"
	"fmt"
	"io"

	awsoptions "github.com/aws/karpenter-provider-aws/pkg/operator/options"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"
)

// providerOptions are the AWS provider's options at their production defaults, set explicitly so
// that the user's environment (VM_MEMORY_OVERHEAD_PERCENT, RESERVED_ENIS, AWS_FEATURE_GATES, …)
// does not change a plan.
func providerOptions() (*awsoptions.Options, error) {
	o := &awsoptions.Options{}
	fs := &coreoptions.FlagSet{FlagSet: flag.NewFlagSet("karpenter-provider-aws", flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := o.Parse(fs,
		"--cluster-name=karpctl",
		"--cluster-endpoint=",
		"--cluster-ca-bundle=",
		"--isolated-vpc=false",
		"--eks-control-plane=false",
		"--vm-memory-overhead-percent=0.075",
		"--interruption-queue=",
		"--reserved-enis=0",
		"--enable-zonal-shift=false",
		"--aws-feature-gates=NodeClassCEL=false,DRANVIDIAGPU=false,DRAEFA=false,RebootForRepair=false",
	); err != nil {
		return nil, fmt.Errorf("karpenter-provider-aws options: %w", err)
	}
	return o, nil
}

// CoreOptions are Karpenter's options the provider's offering code reads; a context that has none
// (a caller outside engine.Plan) gets these production defaults.
func coreOptions() (*coreoptions.Options, error) {
	o := &coreoptions.Options{}
	fs := &coreoptions.FlagSet{FlagSet: flag.NewFlagSet("karpenter", flag.ContinueOnError)}
	fs.SetOutput(io.Discard)
	o.AddFlags(fs)
	if err := o.Parse(fs,
		"--feature-gates=ReservedCapacity=true,NodeOverlay=false,StaticCapacity=false,CapacityBuffer=false",
		"--preference-policy=Respect",
		"--min-values-policy=Strict",
		"--ignore-dra-requests=true",
		"--scheduler-config=",
		"--cpu-requests=1000",
		"--log-level=info",
	); err != nil {
		return nil, fmt.Errorf("karpenter options: %w", err)
	}
	return o, nil
}

// withOptions adds the provider's options, and Karpenter's when the context has none.
func withOptions(ctx context.Context) (context.Context, error) {
	o, err := providerOptions()
	if err != nil {
		return nil, err
	}
	ctx = awsoptions.ToContext(ctx, o)
	if !hasCoreOptions(ctx) {
		core, err := coreOptions()
		if err != nil {
			return nil, err
		}
		ctx = coreoptions.ToContext(ctx, core)
	}
	return ctx, nil
}

// hasCoreOptions reports whether Karpenter's options are in ctx (coreoptions.FromContext panics
// when they are not).
func hasCoreOptions(ctx context.Context) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return coreoptions.FromContext(ctx) != nil
}
