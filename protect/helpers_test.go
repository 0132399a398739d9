package protect

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testAS serves an authorization server's documented wire format: RFC 8414
// metadata and a JWKS. Tokens are minted with its keys by mint.
type testAS struct {
	srv       *httptest.Server
	mux       *http.ServeMux
	issuer    string
	key       *ecdsa.PrivateKey
	kid       string
	jwksHits  atomic.Int64
	published atomic.Pointer[jose.JSONWebKeySet]
}

func newTestAS(t *testing.T) *testAS {
	t.Helper()
	as := &testAS{kid: "k1"}
	as.key = newKey(t)
	as.publish(jose.JSONWebKey{Key: &as.key.PublicKey, KeyID: as.kid, Algorithm: "ES256", Use: "sig"})
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": as.issuer, "jwks_uri": as.issuer + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		as.jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(as.published.Load())
	})
	as.mux = mux
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	as.issuer = as.srv.URL
	return as
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (as *testAS) publish(keys ...jose.JSONWebKey) {
	as.published.Store(&jose.JSONWebKeySet{Keys: keys})
}

// claims returns valid claims for resource, to be altered by a test.
func (as *testAS) claims(resource string, scopes string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": as.issuer, "sub": "alice", "aud": resource, "client_id": "client-1", "scope": scopes,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "j1",
	}
}

// sign makes a compact JWS of claims with key, kid, alg and typ.
func sign(t *testing.T, key any, kid string, alg jose.SignatureAlgorithm, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mint signs claims as an RFC 9068 access token with the AS's current key.
func (as *testAS) mint(t *testing.T, claims map[string]any) string {
	return sign(t, as.key, as.kid, jose.ES256, "at+jwt", claims)
}

// testMCP is a real go-sdk MCP server with two tools behind a Protector.
type testMCP struct {
	srv      *httptest.Server
	resource string
	p        *Protector
	calls    atomic.Int64 // tool invocations
	served   atomic.Int64 // requests that reached the MCP server
}

type echoIn struct {
	Text string `json:"text"`
}

// newTestMCP starts the server; configure adjusts the Config before New.
func newTestMCP(t *testing.T, as *testAS, configure func(*Config)) *testMCP {
	t.Helper()
	m := &testMCP{}
	mux := http.NewServeMux()
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	m.resource = m.srv.URL + "/mcp"
	v, err := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: m.resource})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Resource: m.resource, AuthorizationServers: []string{as.issuer}, Verifier: v,
		ResourceName: "Test MCP", ScopesSupported: []string{"echo:use", "admin:use"},
		ChallengeScopes: []string{"echo:use"},
		ToolScopes:      ToolScopes{"echo": {"echo:use"}, "admin": {"admin:use", "echo:use"}},
		Logger:          discardLogger(),
	}
	if configure != nil {
		configure(&cfg)
	}
	m.p, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	handler := func(_ context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		m.calls.Add(1)
		ti := TokenInfoFromSDK(req.Extra.TokenInfo)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text + " for " + ti.Subject}}}, nil, nil
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echo"}, handler)
	mcp.AddTool(server, &mcp.Tool{Name: "admin", Description: "admin"}, handler)
	server.AddReceivingMiddleware(m.p.ServerMiddleware(true))
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	m.p.Mount(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.served.Add(1)
		sdk.ServeHTTP(w, r)
	}))
	return m
}

// bearerTransport adds a fixed bearer token to every request.
type bearerTransport struct{ token *atomic.Pointer[string] }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+*b.token.Load())
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens a go-sdk client session using the token in tok.
func (m *testMCP) connect(t *testing.T, tok *atomic.Pointer[string]) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: m.resource, HTTPClient: &http.Client{Transport: bearerTransport{tok}}, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func ptr(s string) *atomic.Pointer[string] {
	var p atomic.Pointer[string]
	p.Store(&s)
	return &p
}

// post sends one JSON-RPC body to the MCP endpoint with token (if any).
func (m *testMCP) post(t *testing.T, token, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, m.resource, stringsReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
