// Go runtime figures (runtime/metrics), named as Prometheus' Go collector names them.

package metrics

import (
	"io"
	"math"
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"time"
)

// Runtime is a source of the Go runtime's figures and, on Linux, the
// process's (CPU time, memory, file descriptors, start time), read at each
// scrape. Its families keep the names and meanings of Prometheus' Go and
// process collectors (but for process_network_*, which count the whole
// network namespace), and go_sched_pauses_total_gc_seconds adds the
// distribution of every GC pause as a histogram.
type Runtime struct{}

// runtimeGauge maps a runtime/metrics sample to a family.
type runtimeGauge struct {
	name, help, typ string
	sum             []string // runtime/metrics names added up
}

var runtimeGauges = [...]runtimeGauge{
	{"go_goroutines", "Number of goroutines that currently exist.", "gauge", []string{"/sched/goroutines:goroutines"}},
	{"go_threads", "Number of OS threads owned by the Go runtime.", "gauge", []string{"/sched/threads/total:threads"}},
	{"go_sched_gomaxprocs_threads", "GOMAXPROCS: threads that can execute Go code simultaneously.", "gauge", []string{"/sched/gomaxprocs:threads"}},
	{"go_gc_gogc_percent", "Heap size target percentage (GOGC).", "gauge", []string{"/gc/gogc:percent"}},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit (GOMEMLIMIT).", "gauge", []string{"/gc/gomemlimit:bytes"}},
	{"go_memstats_alloc_bytes", "Bytes of allocated heap objects.", "gauge", []string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_alloc_bytes_total", "Total bytes allocated in the heap, even if freed.", "counter", []string{"/gc/heap/allocs:bytes"}},
	{"go_memstats_mallocs_total", "Total heap objects allocated.", "counter", []string{"/gc/heap/allocs:objects"}},
	{"go_memstats_frees_total", "Total heap objects freed.", "counter", []string{"/gc/heap/frees:objects"}},
	{"go_memstats_heap_alloc_bytes", "Bytes of allocated heap objects.", "gauge", []string{"/memory/classes/heap/objects:bytes"}},
	{"go_memstats_heap_objects", "Number of allocated heap objects.", "gauge", []string{"/gc/heap/objects:objects"}},
	{"go_memstats_heap_inuse_bytes", "Bytes in in-use heap spans.", "gauge", []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}},
	{"go_memstats_heap_idle_bytes", "Bytes in idle heap spans.", "gauge", []string{"/memory/classes/heap/free:bytes", "/memory/classes/heap/released:bytes"}},
	{"go_memstats_heap_released_bytes", "Bytes of idle heap spans returned to the OS.", "gauge", []string{"/memory/classes/heap/released:bytes"}},
	{"go_memstats_heap_sys_bytes", "Bytes of heap memory obtained from the OS.", "gauge", []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/heap/released:bytes"}},
	{"go_memstats_stack_inuse_bytes", "Bytes in goroutine stacks.", "gauge", []string{"/memory/classes/heap/stacks:bytes"}},
	{"go_memstats_stack_sys_bytes", "Bytes of stack memory obtained from the OS.", "gauge", []string{"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes"}},
	{"go_memstats_mspan_inuse_bytes", "Bytes in allocated mspan structures.", "gauge", []string{"/memory/classes/metadata/mspan/inuse:bytes"}},
	{"go_memstats_mspan_sys_bytes", "Bytes of memory obtained from the OS for mspan structures.", "gauge", []string{"/memory/classes/metadata/mspan/inuse:bytes", "/memory/classes/metadata/mspan/free:bytes"}},
	{"go_memstats_mcache_inuse_bytes", "Bytes in allocated mcache structures.", "gauge", []string{"/memory/classes/metadata/mcache/inuse:bytes"}},
	{"go_memstats_mcache_sys_bytes", "Bytes of memory obtained from the OS for mcache structures.", "gauge", []string{"/memory/classes/metadata/mcache/inuse:bytes", "/memory/classes/metadata/mcache/free:bytes"}},
	{"go_memstats_buck_hash_sys_bytes", "Bytes in the profiling bucket hash table.", "gauge", []string{"/memory/classes/profiling/buckets:bytes"}},
	{"go_memstats_gc_sys_bytes", "Bytes in garbage collection metadata.", "gauge", []string{"/memory/classes/metadata/other:bytes"}},
	{"go_memstats_other_sys_bytes", "Bytes in other runtime allocations.", "gauge", []string{"/memory/classes/other:bytes"}},
	{"go_memstats_next_gc_bytes", "Heap size at which the next garbage collection starts.", "gauge", []string{"/gc/heap/goal:bytes"}},
	{"go_memstats_sys_bytes", "Bytes of memory obtained from the OS by the Go runtime.", "gauge", []string{"/memory/classes/total:bytes"}},
}

// gcPauses is the runtime's distribution of GC stop-the-world pauses.
const gcPauses = "/sched/pauses/total/gc:seconds"

// gcQuantiles are the quantiles of go_gc_duration_seconds.
var gcQuantiles = []float64{0, 0.25, 0.5, 0.75, 1}

// pauseBounds are the exposed histogram's upper bounds, in seconds.
var pauseBounds = []float64{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1}

// WriteTo reads the runtime's figures once and writes them.
func (Runtime) WriteTo(w io.Writer) (int64, error) {
	index := map[string]int{gcPauses: 0}
	samples := []rm.Sample{{Name: gcPauses}}
	for _, g := range runtimeGauges {
		for _, name := range g.sum {
			if _, ok := index[name]; !ok {
				index[name] = len(samples)
				samples = append(samples, rm.Sample{Name: name})
			}
		}
	}
	rm.Read(samples)

	b := appendHeader(nil, "go_info", "Information about the Go environment.", "gauge")
	b = appendSample(b, "go_info", "version", runtime.Version(), 1)
	for _, g := range runtimeGauges {
		var v float64
		for _, name := range g.sum {
			v += sampleValue(samples[index[name]].Value)
		}
		b = appendHeader(b, g.name, g.help, g.typ)
		b = appendSample(b, g.name, "", "", v)
	}
	if h := samples[0].Value; h.Kind() == rm.KindFloat64Histogram {
		counts, sum := rebucket(h.Float64Histogram(), pauseBounds)
		b = appendHistogram(b, "go_sched_pauses_total_gc_seconds",
			"GC stop-the-world pause latencies (the sum is estimated from the runtime's bucket lower edges).",
			pauseBounds, counts, sum)
	}
	b = appendGCStats(b)
	b = appendProcess(b)
	n, err := w.Write(b)
	return int64(n), err
}

// appendGCStats appends the summary of recent GC pauses and the time of the
// last collection (runtime/debug.ReadGCStats).
func appendGCStats(b []byte) []byte {
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, len(gcQuantiles))}
	debug.ReadGCStats(&gc)
	values := make([]float64, len(gcQuantiles))
	for i, d := range gc.PauseQuantiles {
		values[i] = d.Seconds()
	}
	b = appendSummary(b, "go_gc_duration_seconds", "A summary of the pause duration of recent garbage collection cycles.",
		gcQuantiles, values, gc.PauseTotal.Seconds(), uint64(gc.NumGC))
	var last float64
	if gc.NumGC > 0 {
		last = float64(gc.LastGC.UnixNano()) / 1e9
	}
	b = appendHeader(b, "go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of the last garbage collection.", "gauge")
	return appendSample(b, "go_memstats_last_gc_time_seconds", "", "", last)
}

// sampleValue is a scalar sample as a float (0 for a name this Go version
// does not know).
func sampleValue(v rm.Value) float64 {
	switch v.Kind() {
	case rm.KindUint64:
		return float64(v.Uint64())
	case rm.KindFloat64:
		return v.Float64()
	}
	return 0
}

// rebucket sums the runtime's fine buckets into bounds: a runtime bucket
// counts under the first bound not below its upper edge (so that no
// observation is reported below its true value), or above the last bound.
// The sum, which the runtime does not keep, is estimated from each bucket's
// lower edge.
func rebucket(h *rm.Float64Histogram, bounds []float64) ([]uint64, float64) {
	counts := make([]uint64, len(bounds)+1)
	var sum float64
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		j := 0
		for j < len(bounds) && hi > bounds[j] {
			j++
		}
		counts[j] += n
		if !math.IsInf(lo, 0) && lo > 0 {
			sum += lo * float64(n)
		}
	}
	return counts, sum
}
