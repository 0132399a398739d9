// Package cputime reads the CPU time this process has used (getrusage(2), RUSAGE_SELF), for
// benchmarks that report CPU per operation beside time per operation: CPU time leaves out the
// waits (an fsync, the network) that wall time includes.
package cputime

import (
	"syscall"
	"testing"
	"time"
)

// Process returns the user and system CPU time the process has used so far; it fails tb when
// the system cannot tell.
func Process(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
