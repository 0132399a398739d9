package servegc

import (
	"runtime/debug"
	"testing"
)

// TestServeGCDefaults: Apply sets GOGC=400 and a 512 MiB soft memory limit where the
// environment sets neither, and leaves each one the operator set as the runtime read it.
func TestServeGCDefaults(t *testing.T) {
	gogc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(gogc); debug.SetMemoryLimit(limit) })
	for _, tc := range []struct {
		env       map[string]string
		wantGOGC  int
		wantLimit int64
	}{
		{nil, GCPercent, MemoryLimit},
		{map[string]string{"GOGC": "150"}, 150, MemoryLimit},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, GCPercent, 1 << 30},
		{map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, 150, 1 << 30},
	} {
		// What the runtime read from the operator's environment at start.
		debug.SetGCPercent(150)
		debug.SetMemoryLimit(1 << 30)
		Apply(func(k string) string { return tc.env[k] })
		if got := debug.SetGCPercent(100); got != tc.wantGOGC {
			t.Errorf("env %v: GOGC %d, want %d", tc.env, got, tc.wantGOGC)
		}
		if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
			t.Errorf("env %v: memory limit %d, want %d", tc.env, got, tc.wantLimit)
		}
	}
}
