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

// withOptions adds the provider's options to a context that carries Karpenter's (engine.Plan's
// context does: the provider's offering code reads Karpenter's feature gates).
func withOptions(ctx context.Context) (context.Context, error) {
	if !hasCoreOptions(ctx) {
		return nil, fmt.Errorf("the context carries no Karpenter options (sigs.k8s.io/karpenter/pkg/operator/options.ToContext)")
	}
	o, err := providerOptions()
	if err != nil {
		return nil, err
	}
	return awsoptions.ToContext(ctx, o), nil
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
