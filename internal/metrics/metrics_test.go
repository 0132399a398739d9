package metrics

import (
	"bytes"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	rm "runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads exposition text with Prometheus' own strict text parser
// (a test-only import: it does not reach the binary).
func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	return fams
}

func write(t *testing.T, r *Registry) []byte {
	t.Helper()
	var b bytes.Buffer
	n, err := r.WriteTo(&b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d bytes", n, err, b.Len())
	}
	return b.Bytes()
}

// value returns the sample of fam with the label value (or without labels).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name, labelValue string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) == 0 && labelValue == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == labelValue {
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("%s has no sample %q", name, labelValue)
	return 0
}

func TestCountersParseAndMove(t *testing.T) {
	r := NewRegistry()
	c := r.NewCounter("test_events_total", "Events.\nSecond line with a \\ backslash and \"quotes\".")
	v := r.NewCounterVec("test_requests_total", "Requests by outcome.", "outcome")
	r.NewCounterVec("test_unused_total", "Never counted: not written.", "x")
	odd := "quote \" backslash \\ newline \n unicode é ✓"

	fams := parse(t, write(t, r))
	if value(t, fams, "test_events_total", "") != 0 {
		t.Error("a new counter is not 0")
	}
	if _, ok := fams["test_requests_total"]; ok {
		t.Error("a label family without values is written")
	}
	if _, ok := fams["test_unused_total"]; ok {
		t.Error("test_unused_total written")
	}

	c.Inc()
	c.Inc()
	for range 3 {
		v.WithLabelValues("ok").Inc()
	}
	v.WithLabelValues(odd).Inc()
	fams = parse(t, write(t, r))
	if got := value(t, fams, "test_events_total", ""); got != 2 {
		t.Errorf("test_events_total = %v, want 2", got)
	}
	if got := fams["test_events_total"].GetHelp(); got != "Events.\nSecond line with a \\ backslash and \"quotes\"." {
		t.Errorf("help read back as %q", got)
	}
	if got := value(t, fams, "test_requests_total", "ok"); got != 3 {
		t.Errorf(`outcome="ok" = %v, want 3`, got)
	}
	if got := value(t, fams, "test_requests_total", odd); got != 1 {
		t.Errorf("escaped label value = %v, want 1", got)
	}
	if fams["test_requests_total"].GetType() != dto.MetricType_COUNTER || fams["test_requests_total"].GetMetric()[0].GetLabel()[0].GetName() != "outcome" {
		t.Errorf("family read back as %v", fams["test_requests_total"])
	}
}

func TestServeHTTPOverRealServer(t *testing.T) {
	r := NewRegistry()
	v := r.NewCounterVec("test_tokens_total", "Tokens.", "grant_type")
	r.Register(Runtime{})
	srv := httptest.NewServer(r)
	defer srv.Close()
	scrape := func() map[string]*dto.MetricFamily {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != ContentType {
			t.Errorf("Content-Type %q", ct)
		}
		if got := expfmt.ResponseFormat(resp.Header); got.FormatType() != expfmt.TypeTextPlain {
			t.Errorf("format %v", got)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(resp.Body); err != nil {
			t.Fatal(err)
		}
		return parse(t, b.Bytes())
	}
	v.WithLabelValues("client_credentials").Inc()
	before := scrape()
	v.WithLabelValues("client_credentials").Inc()
	after := scrape()
	if a, b := value(t, before, "test_tokens_total", "client_credentials"), value(t, after, "test_tokens_total", "client_credentials"); a != 1 || b != 2 {
		t.Errorf("tokens before/after %v/%v, want 1/2", a, b)
	}
	if a, b := value(t, before, "go_memstats_alloc_bytes_total", ""), value(t, after, "go_memstats_alloc_bytes_total", ""); b <= a {
		t.Errorf("go_memstats_alloc_bytes_total did not move: %v then %v", a, b)
	}
}

func TestRuntimeFamilies(t *testing.T) {
	r := NewRegistry()
	r.Register(Runtime{})
	runtime.GC() // at least one pause in the histogram
	fams := parse(t, write(t, r))

	if f := fams["go_info"]; f == nil || f.GetMetric()[0].GetLabel()[0].GetValue() != runtime.Version() {
		t.Errorf("go_info = %v", f)
	}
	for _, name := range []string{"go_goroutines", "go_threads", "go_sched_gomaxprocs_threads", "go_memstats_heap_alloc_bytes",
		"go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes", "go_memstats_stack_inuse_bytes"} {
		if v := value(t, fams, name, ""); v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if v := value(t, fams, "go_sched_gomaxprocs_threads", ""); v != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v, GOMAXPROCS %d", v, runtime.GOMAXPROCS(0))
	}
	if fams["go_memstats_mallocs_total"].GetType() != dto.MetricType_COUNTER {
		t.Error("go_memstats_mallocs_total is not a counter")
	}

	h := fams["go_sched_pauses_total_gc_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() == 0 || len(h.GetBucket()) != len(pauseBounds)+1 || h.GetSampleSum() <= 0 {
		t.Fatalf("GC pause histogram: %v", h)
	}
	prev := uint64(0)
	for i, b := range h.GetBucket() {
		le := math.Inf(1)
		if i < len(pauseBounds) {
			le = pauseBounds[i]
		}
		if b.GetUpperBound() != le || b.GetCumulativeCount() < prev {
			t.Errorf("bucket %d: %v", i, b)
		}
		prev = b.GetCumulativeCount()
	}
	if prev != h.GetSampleCount() {
		t.Errorf("+Inf bucket %d, count %d", prev, h.GetSampleCount())
	}

	sum := fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary()
	if fams["go_gc_duration_seconds"].GetType() != dto.MetricType_SUMMARY || sum.GetSampleCount() == 0 || sum.GetSampleSum() <= 0 || len(sum.GetQuantile()) != 5 {
		t.Fatalf("go_gc_duration_seconds: %v", fams["go_gc_duration_seconds"])
	}
	for i, q := range sum.GetQuantile() {
		if q.GetQuantile() != gcQuantiles[i] || q.GetValue() <= 0 || i > 0 && q.GetValue() < sum.GetQuantile()[i-1].GetValue() {
			t.Errorf("quantile %d: %v", i, q)
		}
	}
	if since := time.Since(time.Unix(int64(value(t, fams, "go_memstats_last_gc_time_seconds", "")), 0)); since < -2*time.Second || since > time.Minute {
		t.Errorf("go_memstats_last_gc_time_seconds is %v ago", since)
	}

	if runtime.GOOS != "linux" {
		return
	}
	if v := value(t, fams, "process_resident_memory_bytes", ""); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	if v := value(t, fams, "process_open_fds", ""); v < 3 || v > value(t, fams, "process_max_fds", "") {
		t.Errorf("process_open_fds = %v", v)
	}
	start := time.Unix(int64(value(t, fams, "process_start_time_seconds", "")), 0)
	if since := time.Since(start); since < -2*time.Second || since > 24*time.Hour {
		t.Errorf("process_start_time_seconds is %v ago", since)
	}
	if v := value(t, fams, "process_cpu_seconds_total", ""); v < 0 || v > 1e6 {
		t.Errorf("process_cpu_seconds_total = %v", v)
	}
}

func TestRebucket(t *testing.T) {
	h := &rm.Float64Histogram{
		// [-Inf,1e-6) [1e-6,2e-5) [2e-5,2e-5+) ... [2,+Inf)
		Buckets: []float64{math.Inf(-1), 1e-6, 2e-5, 3e-4, 2, math.Inf(1)},
		Counts:  []uint64{1, 2, 3, 4, 5},
	}
	counts, sum := rebucket(h, []float64{1e-5, 1e-3, 1})
	// 1e-6 ≤ 1e-5; 2e-5 ≤ 1e-3; 3e-4 ≤ 1e-3; 2 > 1; +Inf > 1.
	if want := []uint64{1, 2 + 3, 0, 4 + 5}; !slices.Equal(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}
	if want := 2*1e-6 + 3*2e-5 + 4*3e-4 + 5*2.0; math.Abs(sum-want) > 1e-12 {
		t.Errorf("sum %v, want %v", sum, want)
	}
}

func TestCountingIsConcurrentAndDoesNotAllocate(t *testing.T) {
	r := NewRegistry()
	v := r.NewCounterVec("test_total", "T.", "outcome")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				v.WithLabelValues([]string{"a", "b", "c"}[(g+i)%3]).Inc()
			}
		})
	}
	wg.Wait()
	fams := parse(t, write(t, r))
	if sum := value(t, fams, "test_total", "a") + value(t, fams, "test_total", "b") + value(t, fams, "test_total", "c"); sum != 8000 {
		t.Errorf("counted %v, want 8000", sum)
	}
	label := strings.Repeat("b", 1) // not a constant: the lookup must not copy it
	if n := testing.AllocsPerRun(1000, func() { v.WithLabelValues(label).Inc() }); n != 0 {
		t.Errorf("counting allocates %v times", n)
	}
}

func TestInvalidOrRepeatedNamesPanic(t *testing.T) {
	for _, tc := range []struct{ name, label string }{
		{"", ""}, {"9lives", ""}, {"a-b", ""}, {"ok_total", "__reserved"}, {"ok_total", "a:b"}, {"ok_total", "1x"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("name %q label %q accepted", tc.name, tc.label)
				}
			}()
			NewRegistry().NewCounterVec(tc.name, "h", tc.label)
		}()
	}
	r := NewRegistry()
	r.NewCounter("ns:sub_total", "colons are valid in metric names")
	defer func() {
		if recover() == nil {
			t.Error("a name added twice is accepted")
		}
	}()
	r.NewCounter("ns:sub_total", "again")
}

// FuzzLabelValue: any label value and help text, written and read back by
// Prometheus' parser, is the same text (help without its leading blanks,
// which the format reads as the separator).
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"ok", `a"b`, `a\b`, "a\nb", `\n`, `\"`, "é✓", ""} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, label, help string) {
		if !utf8.ValidString(label) || !utf8.ValidString(help) || label == "" {
			t.Skip("label values and help are UTF-8 text; an empty value is no label")
		}
		r := NewRegistry()
		r.NewCounterVec("fuzz_total", help, "l").WithLabelValues(label).Inc()
		fams := parse(t, write(t, r))
		f := fams["fuzz_total"]
		if f.GetHelp() != strings.TrimLeft(help, " \t") || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetLabel()[0].GetValue() != label {
			t.Errorf("read back %v", f)
		}
	})
}
