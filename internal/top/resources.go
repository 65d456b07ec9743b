package top

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ParseResources checks --resources: a comma-separated list of cpu, memory, ephemeral-storage, pods
// or extended resources (domain/name, e.g. nvidia.com/gpu).
func ParseResources(s string) ([]string, error) {
	var out []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		switch {
		case r == "":
			return nil, fmt.Errorf("empty resource name in %q", s)
		case r == string(corev1.ResourceCPU), r == string(corev1.ResourceMemory), r == string(corev1.ResourceEphemeralStorage), r == string(corev1.ResourcePods):
		case strings.Contains(r, "/") && !strings.Contains(r, "kubernetes.io/") && len(validation.IsQualifiedName(r)) == 0:
		default:
			return nil, fmt.Errorf("unknown resource %q (want cpu, memory, ephemeral-storage, pods or an extended resource such as nvidia.com/gpu)", r)
		}
		out = append(out, r)
	}
	return out, nil
}
