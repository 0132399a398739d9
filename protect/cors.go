// Cross-origin access to the MCP endpoint for browser-based clients (Fetch standard, "CORS protocol").

package protect

import (
	"net/http"
	"slices"
)

// corsExposed are the response headers a browser-based client must read:
// the challenge for discovery and step-up, the session, and rate limits.
const corsExposed = "WWW-Authenticate, Mcp-Session-Id, Retry-After, RateLimit, RateLimit-Policy"

// corsAllowedHeaders are the request headers MCP clients send.
const corsAllowedHeaders = "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID"

// cors adds CORS headers for an allowed Origin and answers preflight
// requests. It reports whether the request was a preflight and is done.
// Access tokens travel in the Authorization header, never in cookies, so a
// cross-origin page can only use a token it already holds.
func (p *Protector) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || len(p.cfg.AllowedOrigins) == 0 {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	switch {
	case slices.Contains(p.cfg.AllowedOrigins, "*"):
		h.Set("Access-Control-Allow-Origin", "*")
	case slices.Contains(p.cfg.AllowedOrigins, origin):
		h.Set("Access-Control-Allow-Origin", origin)
	default:
		if preflight {
			w.WriteHeader(http.StatusNoContent) // without CORS headers: the browser refuses
		}
		return preflight
	}
	h.Set("Access-Control-Expose-Headers", corsExposed)
	if preflight {
		h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
		h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	}
	return preflight
}
