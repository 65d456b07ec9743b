package main

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseEnv(t *testing.T) {
	got, err := parseEnv("BATCH_IDLE_DURATION=6s, LOG_LEVEL=debug,EMPTY=")
	if err != nil || len(got) != 3 || got["BATCH_IDLE_DURATION"] != "6s" || got["LOG_LEVEL"] != "debug" || got["EMPTY"] != "" {
		t.Fatalf("parseEnv = %v, %v", got, err)
	}
	if _, err := parseEnv("NOVALUE"); err == nil {
		t.Error("NOVALUE accepted")
	}
}

// down only signals a PID whose start time still matches: a finished process, or one that reused the
// PID, is never touched.
func TestAliveMatchesStartTime(t *testing.T) {
	self := Proc{PID: os.Getpid(), StartTicks: startTicks(os.Getpid())}
	if self.StartTicks == 0 || !alive(self) {
		t.Fatalf("this process not alive: %+v", self)
	}
	if alive(Proc{PID: self.PID, StartTicks: self.StartTicks + 1}) {
		t.Error("a different start time counted as the same process")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if alive(Proc{PID: cmd.Process.Pid, StartTicks: 1}) {
		t.Error("a finished process counted as alive")
	}
}
