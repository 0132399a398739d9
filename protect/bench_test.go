package protect

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkMiddleware measures one authorized tools/call through the
// middleware: JWT verification (ES256, cached JWKS), body peek, scope
// check and the in-memory rate limiter, with a no-op MCP handler. "cached"
// is a client reusing its token (the verified-token cache answers);
// "uncached" checks the signature on every request (CacheSize -1).
func BenchmarkMiddleware(b *testing.B) {
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			as := newTestAS(&testing.T{})
			defer as.srv.Close()
			const resource = "https://mcp.example/mcp"
			v, _ := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: resource, CacheSize: bc.cacheSize})
			p, err := New(Config{Resource: resource, AuthorizationServers: []string{as.issuer}, Verifier: v,
				ToolScopes: ToolScopes{"echo": {"echo:use"}}, Logger: discardLogger(),
				RateLimits: &RateLimits{PerUser: Limit{Requests: 1 << 30, Window: time.Second}}})
			if err != nil {
				b.Fatal(err)
			}
			h := p.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
			token := as.mint(&testing.T{}, as.claims(resource, "echo:use"))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, resource, strings.NewReader(callEcho))
				req.Header.Set("Authorization", "Bearer "+token)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
