package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// DefaultMetricsPort is Karpenter's METRICS_PORT default.
const DefaultMetricsPort = 8080

// ReadOptions tune Read.
type ReadOptions struct {
	// NoMetrics skips the pod-proxy reads.
	NoMetrics bool
	// MetricsTimeout bounds each proxied /metrics read.
	MetricsTimeout time.Duration
	// APITimeout bounds the lease read (with the pods and nodes it needs) and the event list
	// (default DefaultAPITimeout). A lease read that does not answer in time is "API server
	// unreachable", never a stale lease: nothing is known about the lease then.
	APITimeout time.Duration
}

// DefaultAPITimeout is ReadOptions.APITimeout's default: a GET of one Lease answers within
// milliseconds on a healthy API server, and far within this on a loaded one.
const DefaultAPITimeout = 10 * time.Second

// Unreachable turns a read that ran out of time into the one-line "API server unreachable" error;
// other errors are returned as they are. ctx is the read's, bounded by timeout: when it has not
// ended, the request's own --request-timeout ran out first, and the message says so.
func Unreachable(ctx context.Context, err error, timeout time.Duration) error {
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	within := timeout.String()
	if ctx.Err() == nil {
		within = "--request-timeout"
	}
	return fmt.Errorf("API server unreachable: no answer within %s (%w); the lease's state is unknown, not judged", within, err)
}

// Read gathers Evaluate's input: the lease status (lease.Read), the Karpenter pods' Warning events
// in their namespace (one list, by field selector), and each live replica's /metrics through the API
// server's pod proxy (GET pods/proxy). Failures of the optional reads become SKIPPED checks with the
// exact error; only the lease and pods are required.
func Read(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter, o ReadOptions, now func() time.Time) (Report, error) {
	if o.APITimeout <= 0 {
		o.APITimeout = DefaultAPITimeout
	}
	lctx, cancel := context.WithTimeout(ctx, o.APITimeout)
	defer cancel()
	st, pods, err := lease.ReadPods(lctx, c, k, now)
	if err != nil {
		return Report{}, Unreachable(lctx, err, o.APITimeout)
	}
	in := Input{Deployment: k.Deployment, Lease: st, Pods: pods, Metrics: map[string]MetricsResult{}}
	ectx, cancel := context.WithTimeout(ctx, o.APITimeout)
	defer cancel()
	evs, err := c.CoreV1().Events(k.Namespace).List(ectx, metav1.ListOptions{
		FieldSelector: fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.kind", "Pod"), fields.OneTermEqualSelector("type", corev1.EventTypeWarning)).String(),
	})
	if err != nil {
		in.EventsSkipped = fmt.Sprintf("cannot list events in %s: %s", k.Namespace, oneLine(err.Error()))
	} else {
		in.Events = evs.Items
	}
	if o.NoMetrics {
		in.MetricsSkipped = "--no-metrics"
	} else {
		if o.MetricsTimeout == 0 {
			o.MetricsTimeout = 5 * time.Second
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range livePods(pods) {
			wg.Add(1)
			go func(p corev1.Pod) {
				defer wg.Done()
				res := scrape(ctx, c, &p, k, o.MetricsTimeout)
				mu.Lock()
				in.Metrics[p.Name] = res
				mu.Unlock()
			}(p)
		}
		wg.Wait()
	}
	in.Now = now()
	return Evaluate(in), nil
}

// scrape reads one replica's /metrics through GET /api/v1/namespaces/NS/pods/NAME:PORT/proxy/metrics.
func scrape(ctx context.Context, c kubernetes.Interface, p *corev1.Pod, k *discovery.Karpenter, timeout time.Duration) MetricsResult {
	port := MetricsPort(p)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := c.CoreV1().Pods(p.Namespace).ProxyGet("http", p.Name, strconv.Itoa(port), "metrics", nil).DoRaw(ctx)
	if err != nil {
		msg := oneLine(strings.TrimSpace(err.Error()))
		// client-go hides a non-Status error body behind "the server rejected our request for an
		// unknown reason (…)"; the body is the API server's actual reason, e.g. "address not allowed".
		if b := bodyReason(body); b != "" && !strings.Contains(msg, b) {
			if strings.HasPrefix(msg, "the server rejected our request for an unknown reason") {
				msg = "the API server refused to proxy to the pod: " + b
			} else {
				msg += ": " + b
			}
		}
		return MetricsResult{Err: fmt.Sprintf("GET pods/proxy %s:%d/metrics: %s", p.Name, port, msg)}
	}
	m, err := ParseMetrics(bytes.NewReader(body), k.LeaseName)
	if err != nil {
		return MetricsResult{Err: fmt.Sprintf("%s:%d/metrics: %v", p.Name, port, err)}
	}
	return MetricsResult{Metrics: &m}
}

// bodyReason decodes an error body: a metav1.Status (protobuf or JSON) gives its message, short
// text is used as is.
func bodyReason(body []byte) string {
	if len(body) == 0 {
		return ""
	}
	if obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil); err == nil {
		if st, ok := obj.(*metav1.Status); ok {
			return oneLine(st.Message)
		}
	}
	if b := oneLine(string(body)); len(b) < 300 && utf8.ValidString(b) {
		return b
	}
	return ""
}

// MetricsPort is the controller container's port named http-metrics, else METRICS_PORT, else 8080.
func MetricsPort(p *corev1.Pod) int {
	if c := discovery.ControllerContainer(&p.Spec); c != nil {
		for _, cp := range c.Ports {
			if cp.Name == "http-metrics" && cp.ContainerPort > 0 {
				return int(cp.ContainerPort)
			}
		}
		for _, e := range c.Env {
			if e.Name == "METRICS_PORT" {
				if n, err := strconv.Atoi(e.Value); err == nil && n > 0 {
					return n
				}
			}
		}
	}
	return DefaultMetricsPort
}
