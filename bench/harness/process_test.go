package harness

import (
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
