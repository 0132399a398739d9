//go:build unix

package protect_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/examples/publicserver"
	"github.com/mcpauth/mcpauth/internal/cputime"
	"github.com/mcpauth/mcpauth/protect"
)

// BenchmarkExampleServer measures the server side of one tools/call of the example public
// server (weather_forecast), handled by its HTTP handler in this goroutine without a network in
// between: "noauth" is the go-sdk server alone, "protected" the same server behind protect as
// mcpauth serve assembles it (ES256 JWT with the verified-token cache, per-tool scopes in the
// middleware and in the MCP server, per-user and per-client rate limits). The difference of the
// two is the cost of protection per call, without the noise of a load test; run with -cpu 1 and
// -benchmem, and -cpuprofile on "protected" to see where it goes. On a loaded machine read
// cpu-ns/op (this process's CPU time per call) rather than ns/op.
func BenchmarkExampleServer(b *testing.B) {
	for _, protected := range []bool{false, true} {
		name := "noauth"
		if protected {
			name = "protected"
		}
		b.Run(name, func(b *testing.B) {
			h, token := exampleServer(b, protected)
			session := postMCP(b, h, token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`, http.StatusOK).Header().Get("Mcp-Session-Id")
			postMCP(b, h, token, session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, http.StatusAccepted)
			const call = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather_forecast","arguments":{"city":"Oslo","days":3}}}`
			if body := postMCP(b, h, token, session, call, http.StatusOK).Body.String(); !strings.Contains(body, `"structuredContent"`) || strings.Contains(body, `"isError":true`) {
				b.Fatalf("tools/call answered %s", body)
			}
			b.ReportAllocs()
			cpu := cputime.Process(b)
			for b.Loop() {
				postMCP(b, h, token, session, call, http.StatusOK)
			}
			// The process's CPU time per call (garbage collection included), which other
			// processes on a loaded machine move far less than the elapsed ns/op.
			b.ReportMetric(float64(cputime.Process(b)-cpu)/float64(b.N), "cpu-ns/op")
			// The live heap after the calls: below the runtime's 4 MB minimum heap goal, the GC
			// runs every few calls (the go-sdk allocates ~320 kB per call) and each cycle's cost
			// grows with what is live, so a larger live heap costs CPU on every call.
			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapAlloc), "live-B")
			// End the session (its go-sdk goroutines and buffers), so that the next
			// sub-benchmark's live heap does not include this one's.
			deleteSession(b, h, token, session)
		})
	}
}

// postMCP posts one JSON-RPC message as a Streamable HTTP client does and checks the status.
func postMCP(b *testing.B, h http.Handler, token, session, body string, want int) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://mcp.example/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
	}
	return rec
}

// deleteSession ends an MCP session as a Streamable HTTP client does (DELETE with its ID).
func deleteSession(b *testing.B, h http.Handler, token, session string) {
	req := httptest.NewRequest(http.MethodDelete, "http://mcp.example/mcp", nil)
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	req.Header.Set("Mcp-Session-Id", session)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		b.Fatalf("DELETE of the session: status %d: %s", rec.Code, rec.Body)
	}
}

// exampleServer returns the example server's handler, behind protect when protected (with a
// token for it, from an authorization server whose JWKS is served on loopback).
func exampleServer(b *testing.B, protected bool) (http.Handler, string) {
	s := publicserver.NewServer("bench")
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	mux := http.NewServeMux()
	if !protected {
		mux.Handle("/mcp", mcpHandler)
		return mux, ""
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	b.Cleanup(jwks.Close)
	const issuer, resource = "https://as.example", "http://mcp.example/mcp"
	verifier, err := protect.NewJWTVerifier(protect.JWTVerifierConfig{Issuer: issuer, Resource: resource, JWKSURL: jwks.URL})
	if err != nil {
		b.Fatal(err)
	}
	p, err := protect.New(protect.Config{
		Resource: resource, AuthorizationServers: []string{issuer}, Verifier: verifier,
		ScopesSupported: publicserver.Scopes(), ToolScopes: publicserver.ToolScopes(),
		RateLimits: &protect.RateLimits{PerUser: protect.Limit{Requests: 1 << 30, Window: time.Minute},
			PerClient: protect.Limit{Requests: 1 << 30, Window: time.Minute}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	s.AddReceivingMiddleware(p.ServerMiddleware(true))
	p.Mount(mux, mcpHandler)

	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "sub": "user-1", "aud": resource, "client_id": "client-1",
		"scope": "weather:read stocks:read", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1"})
	jws, err := signer.Sign(claims)
	if err != nil {
		b.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		b.Fatal(err)
	}
	return mux, token
}
