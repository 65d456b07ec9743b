package discovery

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"
)

// PageSize is kubectl's default chunk size, the page size of lists that grow with the cluster.
const PageSize = 500

// EachPage lists in pages of size (PageSize when 0), calls add with each item and returns the list's
// resourceVersion. A continue token that expired mid-way is answered with one full list (client-go's
// pager).
func EachPage(ctx context.Context, opts metav1.ListOptions, size int64, list pager.ListPageFunc, add func(runtime.Object) error) (string, error) {
	if size <= 0 {
		size = PageSize
	}
	p := pager.New(list)
	p.PageSize = size
	obj, _, err := p.List(ctx, opts)
	if err != nil {
		return "", err
	}
	m, err := meta.ListAccessor(obj)
	if err != nil {
		return "", err
	}
	return m.GetResourceVersion(), meta.EachListItem(obj, add)
}
