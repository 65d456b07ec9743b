package aws

import (
	"context"
	"fmt"

	awsoptions "github.com/aws/karpenter-provider-aws/pkg/operator/options"
	coreoptions "sigs.k8s.io/karpenter/pkg/operator/options"

	"github.com/karpctl/karpctl/internal/engine/karpenter"
)

// withOptions makes sure the context carries the provider's options: those package karpenter put
// there with Karpenter's (the cluster's settings), else the provider's defaults. The context must
// carry Karpenter's options (engine.Plan's does: the provider's offering code reads its gates).
func withOptions(ctx context.Context) (context.Context, error) {
	if !hasCoreOptions(ctx) {
		return nil, fmt.Errorf("the context carries no Karpenter options (sigs.k8s.io/karpenter/pkg/operator/options.ToContext)")
	}
	if awsoptions.FromContext(ctx) != nil {
		return ctx, nil
	}
	return awsoptions.ToContext(ctx, awsoptions.FromContext(karpenter.Defaults().Context(context.Background()))), nil
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
