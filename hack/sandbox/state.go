package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// State is .sandbox/state.json, written by the supervisor.
type State struct {
	SupervisorPID  int       `json:"supervisorPID"`
	Ready          bool      `json:"ready"`
	Error          string    `json:"error,omitempty"`
	Server         string    `json:"server,omitempty"`
	Kubeconfig     string    `json:"kubeconfig,omitempty"`
	KubeCacheDir   string    `json:"kubeCacheDir,omitempty"`
	Namespace      string    `json:"namespace,omitempty"`
	Isolation      string    `json:"isolation,omitempty"`
	StartupSeconds float64   `json:"startupSeconds,omitempty"`
	Procs          []Proc    `json:"processes"`
	Updated        time.Time `json:"updated"`
}

// Proc is one process the supervisor started. StartTicks (from /proc/PID/stat) tells it apart from a
// later process that reuses the PID.
type Proc struct {
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"startTicks"`
}

func (c *cli) path(name string) string { return filepath.Join(c.dir, name) }

func (c *cli) readState() (*State, error) {
	b, err := os.ReadFile(c.path("state.json"))
	if err != nil {
		return nil, err
	}
	s := &State{}
	return s, json.Unmarshal(b, s)
}

func (c *cli) writeState(s *State) {
	s.Updated = time.Now()
	b, _ := json.MarshalIndent(s, "", "  ")
	tmp := c.path("state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		_ = os.Rename(tmp, c.path("state.json"))
	}
}

// writeSupervisorPID records pid, with its start time, as the supervisor's: "PID TICKS".
func (c *cli) writeSupervisorPID(pid int) {
	_ = os.WriteFile(c.path("supervisor.pid"), fmt.Appendf(nil, "%d %d\n", pid, startTicks(pid)), 0o644)
}

// supervisor returns the recorded supervisor PID if that process is still the one up started.
func (c *cli) supervisor() (Proc, bool) {
	b, err := os.ReadFile(c.path("supervisor.pid"))
	if err != nil {
		return Proc{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return Proc{}, false
	}
	sup := Proc{Name: "supervisor"}
	sup.PID, _ = strconv.Atoi(f[0])
	sup.StartTicks, _ = strconv.ParseUint(f[1], 10, 64)
	return sup, sup.PID > 0 && alive(sup)
}

func (c *cli) envLine(s *State) string {
	return fmt.Sprintf("export KUBECONFIG=%s KUBECACHEDIR=%s", s.Kubeconfig, s.KubeCacheDir)
}

// procStat reads /proc/PID/stat: the start time since boot (field 22; 0 if the process is gone) and
// whether the process is a zombie (state Z, field 3).
func procStat(pid int) (ticks uint64, zombie bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // fields after ")" start at 3
	if len(f) < 20 {
		return 0, false
	}
	ticks, _ = strconv.ParseUint(f[19], 10, 64)
	return ticks, f[0] == "Z"
}

// startTicks is the process's start time since boot, 0 if it is gone.
func startTicks(pid int) uint64 {
	t, _ := procStat(pid)
	return t
}

// alive reports whether p still runs as the same process (a zombie does not count).
func alive(p Proc) bool {
	t, zombie := procStat(p.PID)
	return t != 0 && t == p.StartTicks && !zombie
}
