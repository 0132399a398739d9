package cputime_test

import (
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/internal/cputime"
)

// TestProcessCountsWorkNotSleep: computing makes the process's CPU time grow (within a bound
// of wall time, however loaded the machine), and sleeping does not.
func TestProcessCountsWorkNotSleep(t *testing.T) {
	start, deadline := cputime.Process(t), time.Now().Add(10*time.Second)
	for cputime.Process(t)-start < 30*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of computing counted as %v of CPU", cputime.Process(t)-start)
		}
	}
	start = cputime.Process(t)
	time.Sleep(100 * time.Millisecond)
	if idle := cputime.Process(t) - start; idle > 50*time.Millisecond {
		t.Fatalf("100 ms of sleep counted as %v of CPU", idle)
	}
}
