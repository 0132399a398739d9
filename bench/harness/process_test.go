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

// TestParseCore: of a /proc/stat CPU line, idle and iowait are not busy, steal is busy and also
// counted apart, and the guest times (already in user time) are left out.
func TestParseCore(t *testing.T) {
	//                  user nice system idle iowait irq softirq steal guest guest_nice
	c, err := parseCore("100 2 30 500 8 1 4 55 70 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Core{Busy: 100 + 2 + 30 + 1 + 4 + 55, Steal: 55, Total: 700}); c != want {
		t.Fatalf("parsed %+v, want %+v", c, want)
	}
	later := Core{Busy: c.Busy + 40, Steal: c.Steal + 10, Total: c.Total + 100}
	if d := later.Sub(c); d.StealShare() != 0.1 || d.BusyShare() != 0.4 {
		t.Errorf("over 100 ticks with 40 busy, 10 of them stolen: steal %.2f, busy %.2f", d.StealShare(), d.BusyShare())
	}
	for _, bad := range []string{"", "1 2 3", "1 2 3 4 5 6 7 x"} {
		if _, err := parseCore(bad); err == nil {
			t.Errorf("parseCore(%q) accepted", bad)
		}
	}
}
