// Closed-loop load generation: a fixed number of workers, each sending its next request when the
// previous one is answered, for a fixed time; throughput and latency percentiles per operation.
package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// NewHTTPClient returns a client that keeps up to conns connections alive to one host and never
// follows redirects (the flows read Location themselves).
func NewHTTPClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// Op is one kind of operation in a load run; Run calls it again and again in each worker.
// An error counts as a failure of the operation; StatusError lets Result tell 5xx apart.
type Op func(ctx context.Context, worker int) error

// Stats are the measurements of one operation.
type Stats struct {
	Count, Errors int
	Status5xx     int
	FirstError    error
	latencies     []time.Duration
}

// Percentile returns the p-th percentile latency (0 < p <= 100) of successful operations.
func (s *Stats) Percentile(p float64) time.Duration {
	if len(s.latencies) == 0 {
		return 0
	}
	i := int(float64(len(s.latencies))*p/100+0.5) - 1
	return s.latencies[max(0, min(i, len(s.latencies)-1))]
}

// Result is the outcome of Run.
type Result struct {
	Elapsed time.Duration
	Ops     map[string]*Stats
}

// PerSecond is the rate of successful operations named name.
func (r *Result) PerSecond(name string) float64 {
	s := r.Ops[name]
	if s == nil || r.Elapsed <= 0 {
		return 0
	}
	return float64(s.Count) / r.Elapsed.Seconds()
}

// Total sums the counters over every operation.
func (r *Result) Total() (count, errors, status5xx int) {
	for _, s := range r.Ops {
		count, errors, status5xx = count+s.Count, errors+s.Errors, status5xx+s.Status5xx
	}
	return
}

// String summarises every operation: rate, p50, p99, errors.
func (r *Result) String() string {
	names := make([]string, 0, len(r.Ops))
	for n := range r.Ops {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		s := r.Ops[n]
		fmt.Fprintf(&b, "%-22s %7d ok %8.1f/s  p50 %-9v p99 %-9v errors %d (5xx %d)", n, s.Count, r.PerSecond(n),
			s.Percentile(50).Round(10*time.Microsecond), s.Percentile(99).Round(10*time.Microsecond), s.Errors, s.Status5xx)
		if s.FirstError != nil {
			fmt.Fprintf(&b, " first: %v", s.FirstError)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Mix chooses the operation a worker runs next; it is called with the worker and its iteration.
type Mix func(worker, iteration int) string

// Run runs workers concurrent closed loops for d (or until ctx ends): each picks an operation
// with mix and runs it. After d no operation starts, and those under way finish; when ctx ends,
// those under way are abandoned and not counted.
func Run(ctx context.Context, workers int, d time.Duration, ops map[string]Op, mix Mix) *Result {
	stop, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return RunUntil(ctx, stop, workers, ops, mix)
}

// RunUntil is Run until stop ends.
func RunUntil(ctx, stop context.Context, workers int, ops map[string]Op, mix Mix) *Result {
	var mu sync.Mutex
	res := &Result{Ops: map[string]*Stats{}}
	for n := range ops {
		res.Ops[n] = &Stats{}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			local := map[string]*Stats{}
			for i := 0; ctx.Err() == nil && stop.Err() == nil; i++ {
				name := mix(w, i)
				t0 := time.Now()
				err := ops[name](ctx, w)
				lat := time.Since(t0)
				if ctx.Err() != nil && err != nil {
					break // abandoned, not a failure
				}
				s := local[name]
				if s == nil {
					s = &Stats{}
					local[name] = s
				}
				if err != nil {
					s.Errors++
					if se, ok := err.(*StatusError); ok && se.Status >= 500 {
						s.Status5xx++
					}
					if s.FirstError == nil {
						s.FirstError = err
					}
					continue
				}
				s.Count++
				s.latencies = append(s.latencies, lat)
			}
			mu.Lock()
			defer mu.Unlock()
			for n, s := range local {
				r := res.Ops[n]
				r.Count += s.Count
				r.Errors += s.Errors
				r.Status5xx += s.Status5xx
				if r.FirstError == nil {
					r.FirstError = s.FirstError
				}
				r.latencies = append(r.latencies, s.latencies...)
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	for _, s := range res.Ops {
		slices.Sort(s.latencies)
	}
	return res
}

// Only is the Mix of a run with one operation.
func Only(name string) Mix { return func(int, int) string { return name } }
