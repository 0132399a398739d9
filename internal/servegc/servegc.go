// Package servegc holds the garbage collector settings of mcpauth serve, so that the benchmark's
// stand-in for it (bench/benchserver -mode register) runs as the server does.
package servegc

import "runtime/debug"

// The collector's settings for mcpauth serve, unless the operator set GOGC or GOMEMLIMIT.
const (
	GCPercent   = 400       // Go's default is 100
	MemoryLimit = 512 << 20 // bytes; Go's default is none
)

// Apply sets the collector of a long-running server where the environment (getenv) sets
// nothing: GOGC=400 collects a quarter as often as Go's default, for a heap that grows to five
// times the live heap instead of twice (the server's live heap is a few MB), and the soft limit
// bounds that growth for a larger live heap. Fewer collections also mean fewer shrunk goroutine
// stacks to grow again on the next request. What the operator set is left as the runtime read it.
func Apply(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
