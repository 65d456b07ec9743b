package commands

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"

	"github.com/karpctl/karpctl/internal/cli"
	"github.com/karpctl/karpctl/internal/discovery"
	"github.com/karpctl/karpctl/internal/lease"
)

// serve is `lease --serve ADDR`: a Prometheus exporter of the lease on exactly the address the user
// gave, until ctx ends (Ctrl-C), then a graceful shutdown.
func (o *LeaseOptions) serve(ctx context.Context, c kubernetes.Interface, k *discovery.Karpenter) error {
	ln, err := net.Listen("tcp", o.Serve)
	if err != nil {
		return cli.UsageError("--serve %s: %v", o.Serve, err)
	}
	exp := lease.NewExporter(c, k, time.Now)
	exp.OnWatchError = func(err error) { fmt.Fprintf(o.env.ErrOut, "warning: %v (restarting the watch)\n", err) }
	reg := prometheus.NewRegistry()
	reg.MustRegister(exp)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: nil, Timeout: 10 * time.Second}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exp.StartCache(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); exp.Run(ctx) }()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Fprintf(o.env.Out, "Serving metrics of lease %s/%s on http://%s/metrics (Ctrl-C to stop)\n", k.LeaseNamespace, k.LeaseName, ln.Addr())

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if serr := srv.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	<-watchDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics on %s: %w", o.Serve, err)
	}
	return nil
}
