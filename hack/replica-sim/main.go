// Command replica-sim stands in for one Karpenter replica in tests: it runs client-go's leader
// election on a Lease exactly as Karpenter v1.15.0 does (LeaseLock, identity "<hostname>_<uuid>",
// controller-runtime's 15 s / 10 s / 2 s defaults, release on cancel) and does nothing else.
// SIGTERM/SIGINT cancel it and so release the lease (unlike the real v1.15.0, which never cancels);
// SIGKILL stops it without release.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/karpctl/karpctl/internal/discovery"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig")
	ns := flag.String("namespace", "", "lease namespace")
	name := flag.String("lease", discovery.DefaultLeaseName, "lease name")
	host := flag.String("hostname", "", "identity prefix (the pod name); default os.Hostname()")
	duration := flag.Duration("lease-duration", 15*time.Second, "lease duration")
	renew := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retry := flag.Duration("retry-period", 2*time.Second, "retry period")
	release := flag.Bool("release-on-cancel", true, "release the lease on SIGTERM")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fail(err)
	}
	if *host == "" {
		if *host, err = os.Hostname(); err != nil {
			fail(err)
		}
	}
	id := *host + "_" + uuid.NewString()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metaOf(*ns, *name),
		Client:     c.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	fmt.Printf("identity %s\n", id)
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *duration,
		RenewDeadline:   *renew,
		RetryPeriod:     *retry,
		ReleaseOnCancel: *release,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { fmt.Printf("%s started leading\n", time.Now().Format(time.RFC3339Nano)) },
			OnStoppedLeading: func() { fmt.Printf("%s stopped leading\n", time.Now().Format(time.RFC3339Nano)) },
			OnNewLeader:      func(l string) { fmt.Printf("%s leader is %s\n", time.Now().Format(time.RFC3339Nano), l) },
		},
	})
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "replica-sim:", err)
	os.Exit(1)
}
