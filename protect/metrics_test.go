package protect

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcpauth/mcpauth/internal/metrics"
)

// scrape GETs a /metrics endpoint and parses it with Prometheus' own strict
// text parser (a test-only import).
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&b)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// sample is the counter of fam with label value v (0 when absent).
func sample(fams map[string]*dto.MetricFamily, fam, v string) float64 {
	for _, m := range fams[fam].GetMetric() {
		if l := m.GetLabel(); len(l) == 0 && v == "" || len(l) == 1 && l[0].GetValue() == v {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestMetricsCountDecisions(t *testing.T) {
	reg := metrics.NewRegistry()
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) {
		c.Metrics = NewMetrics(reg)
		c.RateLimits = &RateLimits{PerUser: Limit{Requests: 2, Window: time.Hour}}
	})
	metricsSrv := httptest.NewServer(reg)
	defer metricsSrv.Close()

	before := scrape(t, metricsSrv.URL)
	if got := sample(before, "mcpauth_protect_requests_total", "ok"); got != 0 {
		t.Errorf(`requests{outcome="ok"} = %v before any request`, got)
	}
	m.post(t, "", callEcho)                                             // 401 missing
	m.post(t, "not-a-jwt", callEcho)                                    // 401 malformed
	m.post(t, as.mint(t, as.claims(m.resource, "echo:use")), callAdmin) // 403 scope
	ok := as.mint(t, as.claims(m.resource, "echo:use"))
	for range 3 { // two allowed, the third over the user's limit
		m.post(t, ok, callEcho)
	}

	after := scrape(t, metricsSrv.URL)
	for _, c := range []struct {
		fam, label string
		want       float64
	}{
		{"mcpauth_protect_requests_total", "ok", 2},
		{"mcpauth_protect_requests_total", "unauthorized", 2},
		{"mcpauth_protect_requests_total", "forbidden", 1},
		{"mcpauth_protect_requests_total", "rate_limited", 1},
		{"mcpauth_protect_auth_failures_total", ReasonMissing, 1},
		{"mcpauth_protect_auth_failures_total", ErrorInsufficientScope, 1},
		{"mcpauth_protect_rate_limited_total", "user", 1},
		{"mcpauth_protect_rate_limiter_errors_total", "", 0},
	} {
		if got := sample(after, c.fam, c.label); got != c.want {
			t.Errorf("%s{%q} = %v, want %v", c.fam, c.label, got, c.want)
		}
	}
	var failures float64
	for _, s := range after["mcpauth_protect_auth_failures_total"].GetMetric() {
		failures += s.GetCounter().GetValue()
	}
	if failures != 3 {
		t.Errorf("auth failures %v in all, want 3 (missing, malformed, scope)", failures)
	}
}

func TestMetricsCountingDoesNotAllocate(t *testing.T) {
	m := NewMetrics(nil)
	if n := testing.AllocsPerRun(1000, func() {
		m.ok.Inc()
		m.requests.WithLabelValues("unauthorized").Inc()
		m.authFailures.WithLabelValues(ReasonMissing).Inc()
	}); n != 0 {
		t.Errorf("counting allocates %v times per request", n)
	}
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil || !bytes.Contains(b.Bytes(), []byte(`mcpauth_protect_requests_total{outcome="ok"} 1001`)) {
		t.Errorf("WriteTo: %v\n%s", err, b.String())
	}
}
