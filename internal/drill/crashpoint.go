//go:build crashpoints && unix

package drill

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// CrashAtEnv names the step a test build stops karpctl at: KIND[#N]:SIGNAL, the N-th (default
// first) event of KIND the drill records, and SIGNAL one of KILL, TERM, INT. Only binaries built
// with -tags crashpoints read it; the released binary has no crash point at all (crashpoint_off.go).
const CrashAtEnv = "KARPCTL_CRASH_AT"

var crashSeen = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

// crashPoint signals this process when the drill records the step CrashAtEnv names. A SIGKILL never
// returns; SIGTERM and SIGINT reach the drill's signal handler as a user's would.
func crashPoint(kind string) {
	spec, ok := os.LookupEnv(CrashAtEnv)
	if !ok {
		return
	}
	step, sig, _ := strings.Cut(spec, ":")
	want, nth := step, 1
	if k, n, ok := strings.Cut(step, "#"); ok {
		want = k
		nth, _ = strconv.Atoi(n)
	}
	if kind != want {
		return
	}
	crashSeen.Lock()
	crashSeen.n[kind]++
	hit := crashSeen.n[kind] == nth
	crashSeen.Unlock()
	if !hit {
		return
	}
	s := map[string]syscall.Signal{"KILL": syscall.SIGKILL, "TERM": syscall.SIGTERM, "INT": syscall.SIGINT}[sig]
	if s == 0 {
		return
	}
	_ = syscall.Kill(os.Getpid(), s)
	if s == syscall.SIGKILL {
		select {}
	}
}
