package release

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/karpctl/karpctl/internal/harness"
)

// starts is how many times each command runs per benchmark iteration: one start is a few
// milliseconds, too short to compare alone.
const starts = 20

// BenchmarkStart compares the start of the release build's `version --client` with kubectl's own
// `kubectl version --client`, and `kubectl karpctl` (kubectl finding and running the plugin). Target:
// karpctl no slower than kubectl. The ms/start metric is one start's wall time.
func BenchmarkStart(b *testing.B) {
	kubectl, err := harness.Bin("kubectl")
	if err != nil {
		b.Skip(err)
	}
	dir := b.TempDir()
	karpctl := filepath.Join(dir, "kubectl-karpctl")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", karpctl, "./cmd/karpctl")
	build.Dir, build.Env = harness.RepoRoot(), append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	path := "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, c := range []struct {
		name string
		argv []string
	}{
		{"karpctl", []string{karpctl, "version", "--client"}},
		{"kubectl", []string{kubectl, "version", "--client"}},
		{"kubectl-plugin", []string{kubectl, "karpctl", "version", "--client"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				for range starts {
					cmd := exec.Command(c.argv[0], c.argv[1:]...)
					cmd.Env = append(os.Environ(), path)
					t0 := time.Now()
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%v: %v\n%s", c.argv, err, out)
					}
					total += time.Since(t0)
				}
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N*starts)/1000, "ms/start")
		})
	}
}
