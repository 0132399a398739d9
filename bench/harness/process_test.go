package harness

import (
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// TestCPUTime: the CPU time of a busy process grows, read from /proc while it runs.
func TestCPUTime(t *testing.T) {
	p := Start(t, Options{Ready: regexp.MustCompile(`^ready$`), PinCPU: -1}, "sh", "-c", "echo ready; while :; do :; done")
	defer p.Kill()
	first, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		d, err := p.CPUTime()
		if err != nil {
			t.Fatal(err)
		}
		if d >= first+50*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time of a busy loop stayed at %v (from %v) for 10 s", d, first)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReadCore: a busy loop pinned to a CPU makes that CPU busy.
func TestReadCore(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("no taskset to pin a process")
	}
	p := Start(t, Options{Ready: regexp.MustCompile(`^ready$`), PinCPU: 0}, "nice", "-n", "19", "sh", "-c", "echo ready; while :; do :; done")
	defer p.Kill()
	before, err := ReadCore(0)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(50 * time.Millisecond)
		now, err := ReadCore(0)
		if err != nil {
			t.Fatal(err)
		}
		if now.Total-before.Total >= 5 && now.Sub(before).BusyShare() > 0.9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU 0 with a busy loop pinned to it: %+v -> %+v", before, now)
		}
	}
	if _, err := ReadCore(1 << 20); err == nil {
		t.Error("ReadCore of a CPU that does not exist: no error")
	}
}
