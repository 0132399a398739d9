package protect_test

import (
	"net/http"
	"os"

	"github.com/mcpauth/mcpauth/protect"
)

// Expose the middleware's counters to Prometheus on an endpoint of your own
// (or pass a Registerer to NewMetrics to add them to an existing one).
func ExampleNewMetrics() {
	m := protect.NewMetrics(nil)
	// protect.New(protect.Config{..., Metrics: m})
	http.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = m.WriteTo(w)
	})

	_, _ = m.WriteTo(os.Stdout)
	// Output:
	// # HELP mcpauth_protect_requests_total Requests to the protected MCP endpoint, by outcome (ok, unauthorized, forbidden, rate_limited, bad_request, unavailable).
	// # TYPE mcpauth_protect_requests_total counter
	// mcpauth_protect_requests_total{outcome="ok"} 0
	// # HELP mcpauth_protect_rate_limiter_errors_total Failures of the rate limiter's store (e.g. Redis unreachable).
	// # TYPE mcpauth_protect_rate_limiter_errors_total counter
	// mcpauth_protect_rate_limiter_errors_total 0
}
