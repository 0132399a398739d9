// Prometheus metrics of the resource-server middleware.

package protect

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the middleware decides. Register it with a
// prometheus.Registerer (see [NewMetrics]); labels never carry tokens,
// subjects or client IDs, only bounded enumerations.
type Metrics struct {
	requests     *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	limiterErrs  prometheus.Counter
	ok           prometheus.Counter // requests{outcome="ok"}, resolved once: it is counted on every request
}

// NewMetrics creates the middleware's metrics and registers them with reg
// (nil: not registered, e.g. for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpauth_protect_requests_total",
			Help: "Requests to the protected MCP endpoint, by outcome (ok, unauthorized, forbidden, rate_limited, bad_request, unavailable).",
		}, []string{"outcome"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpauth_protect_auth_failures_total",
			Help: "Requests refused for their access token, by reason (missing, expired, audience, signature, insufficient_scope, session_user, ...).",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpauth_protect_rate_limited_total",
			Help: "Requests refused with 429, by the limit that refused them (user, client).",
		}, []string{"limit"}),
		limiterErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mcpauth_protect_rate_limiter_errors_total",
			Help: "Failures of the rate limiter's store (e.g. Redis unreachable).",
		}),
	}
	m.ok = m.requests.WithLabelValues("ok")
	if reg != nil {
		reg.MustRegister(m.requests, m.authFailures, m.rateLimited, m.limiterErrs)
	}
	return m
}
