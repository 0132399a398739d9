// Package metrics exposes counters and the Go runtime's figures in the
// Prometheus text exposition format 0.0.4, without a metrics library: the
// counting path is one atomic add, and nothing runs at program start.
package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
)

// A Registry is a set of metric families and other sources of exposition
// text, written in the order they were added. The zero value is empty and
// ready to use.
type Registry struct {
	mu      sync.Mutex
	names   map[string]bool
	sources []io.WriterTo
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return new(Registry) }

// NewCounter adds a counter family without labels. It panics if name is not
// a valid metric name or is already taken in r (a programming error, as
// with a duplicate flag).
func (r *Registry) NewCounter(name, help string) *Counter {
	f := &counterFamily{name: name, help: help, c: new(Counter)}
	r.add(name, "", f)
	return f.c
}

// NewCounterVec adds a counter family with one label, whose values are
// added as they are first counted. Label values must come from a bounded
// set chosen by the program, never from request input.
func (r *Registry) NewCounterVec(name, help, label string) *CounterVec {
	v := &CounterVec{name: name, help: help, label: label}
	v.children.Store(&map[string]*Counter{})
	r.add(name, label, v)
	return v
}

// Register adds another source of exposition text (such as [Runtime], or
// another registry). Its family names must not repeat names in r.
func (r *Registry) Register(s io.WriterTo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sources = append(r.sources, s)
}

func (r *Registry) add(name, label string, s io.WriterTo) {
	if !validName(name, true) || label != "" && !validName(label, false) {
		panic(fmt.Sprintf("metrics: invalid metric or label name %q %q", name, label))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic(fmt.Sprintf("metrics: metric %q added twice", name))
	}
	if r.names == nil {
		r.names = map[string]bool{}
	}
	r.names[name] = true
	r.sources = append(r.sources, s)
}

// WriteTo writes every family in the text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	sources := slices.Clone(r.sources)
	r.mu.Unlock()
	var total int64
	for _, s := range sources {
		n, err := s.WriteTo(w)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// ServeHTTP answers a scrape with every family in the text format 0.0.4,
// which every Prometheus version accepts.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	_, _ = r.WriteTo(w) // a failed write is the scraper gone: nothing to tell it
}

// A Counter is a monotonically increasing count; safe for concurrent use.
type Counter struct{ n atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.n.Add(1) }

// Value returns the count.
func (c *Counter) Value() uint64 { return c.n.Load() }

type counterFamily struct {
	name, help string
	c          *Counter
}

func (f *counterFamily) WriteTo(w io.Writer) (int64, error) {
	b := appendHeader(nil, f.name, f.help, "counter")
	b = appendSample(b, f.name, "", "", float64(f.c.Value()))
	n, err := w.Write(b)
	return int64(n), err
}

// A CounterVec is a family of counters told apart by one label's value.
type CounterVec struct {
	name, help, label string
	mu                sync.Mutex // serialises adding a label value
	// children is replaced, never changed, when a value is added, so that
	// counting an existing value takes no lock.
	children atomic.Pointer[map[string]*Counter]
}

// WithLabelValues returns the counter for the label value, adding it at
// the first use. Looking up an existing value takes no lock and does not
// allocate.
func (v *CounterVec) WithLabelValues(value string) *Counter {
	if c := (*v.children.Load())[value]; c != nil {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	old := *v.children.Load()
	if c := old[value]; c != nil {
		return c
	}
	next := maps.Clone(old)
	c := new(Counter)
	next[value] = c
	v.children.Store(&next)
	return c
}

// WriteTo writes the family, its samples ordered by label value; nothing
// while no value has been counted.
func (v *CounterVec) WriteTo(w io.Writer) (int64, error) {
	children := *v.children.Load()
	if len(children) == 0 {
		return 0, nil
	}
	b := appendHeader(nil, v.name, v.help, "counter")
	for _, k := range slices.Sorted(maps.Keys(children)) {
		b = appendSample(b, v.name, v.label, k, float64(children[k].Value()))
	}
	n, err := w.Write(b)
	return int64(n), err
}
