// Prometheus metrics of the resource-server middleware (text exposition format 0.0.4).

package protect

import (
	"io"

	"github.com/mcpauth/mcpauth/internal/metrics"
)

// Metrics counts what the middleware decides. Labels never carry tokens,
// subjects or client IDs, only bounded enumerations. Counting is one atomic
// add, without locks or allocation.
type Metrics struct {
	families     metrics.Registry
	requests     *metrics.CounterVec
	authFailures *metrics.CounterVec
	rateLimited  *metrics.CounterVec
	limiterErrs  *metrics.Counter
	ok           *metrics.Counter // requests{outcome="ok"}, resolved once: it is counted on every request
}

// A Registerer collects sources of Prometheus text (format 0.0.4) for one
// /metrics endpoint, such as the registry of `mcpauth serve`.
type Registerer interface {
	Register(io.WriterTo)
}

// NewMetrics creates the middleware's metrics and registers them with reg
// (nil: not registered; [Metrics.WriteTo] still writes them).
func NewMetrics(reg Registerer) *Metrics {
	m := &Metrics{}
	m.requests = m.families.NewCounterVec("mcpauth_protect_requests_total",
		"Requests to the protected MCP endpoint, by outcome (ok, unauthorized, forbidden, rate_limited, bad_request, unavailable).", "outcome")
	m.authFailures = m.families.NewCounterVec("mcpauth_protect_auth_failures_total",
		"Requests refused for their access token, by reason (missing, expired, audience, signature, insufficient_scope, session_user, ...).", "reason")
	m.rateLimited = m.families.NewCounterVec("mcpauth_protect_rate_limited_total",
		"Requests refused with 429, by the limit that refused them (user, client).", "limit")
	m.limiterErrs = m.families.NewCounter("mcpauth_protect_rate_limiter_errors_total",
		"Failures of the rate limiter's store (e.g. Redis unreachable).")
	m.ok = m.requests.WithLabelValues("ok")
	if reg != nil {
		reg.Register(m)
	}
	return m
}

// WriteTo writes the metrics in the Prometheus text exposition format 0.0.4.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) { return m.families.WriteTo(w) }
