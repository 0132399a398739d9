package protect

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

const callEcho = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
const callAdmin = `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin","arguments":{"text":"hi"}}}`

func TestProtectedResourceMetadata(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		resp, err := http.Get(m.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var md oauthex.ProtectedResourceMetadata
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || md.Resource != m.resource || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != as.issuer {
			t.Errorf("%s: status %d, metadata %+v", path, resp.StatusCode, md)
		}
		if strings.Join(md.BearerMethodsSupported, ",") != "header" || md.ResourceName != "Test MCP" ||
			strings.Join(md.ScopesSupported, " ") != "echo:use admin:use" {
			t.Errorf("%s: metadata %+v", path, md)
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin = %q", path, got)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, m.srv.URL+"/.well-known/oauth-protected-resource/mcp", nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// The go-sdk's client-side discovery accepts what we serve.
	md, err := oauthex.GetProtectedResourceMetadata(context.Background(), m.p.MetadataURL(), m.resource, http.DefaultClient)
	if err != nil || md.Resource != m.resource {
		t.Fatalf("oauthex.GetProtectedResourceMetadata: %v %+v", err, md)
	}
}

func TestMissingTokenGets401WithResourceMetadata(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	resp := m.post(t, "", callEcho)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := `Bearer resource_metadata="` + m.srv.URL + `/.well-known/oauth-protected-resource/mcp", scope="echo:use"`
	if got := resp.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate = %q, want %q", got, want)
	}
	ch, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(ch) != 1 || ch[0].Params["resource_metadata"] != m.p.MetadataURL() {
		t.Errorf("go-sdk parser: %v %+v", err, ch)
	}
}

func TestBadTokensGet401InvalidToken(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	other := newTestAS(t)
	otherKey := newKey(t)
	claims := func(edit func(map[string]any)) map[string]any {
		c := as.claims(m.resource, "echo:use")
		edit(c)
		return c
	}
	noneToken := func() string {
		hdr := `{"alg":"none","typ":"at+jwt","kid":"k1"}`
		body, _ := json.Marshal(claims(func(map[string]any) {}))
		return b64(hdr) + "." + b64(string(body)) + "."
	}()
	cases := []struct {
		name, token, reason string
	}{
		{"another resource", as.mint(t, claims(func(c map[string]any) { c["aud"] = "https://other.example/mcp" })), ReasonAudience},
		{"another issuer", other.mint(t, claims(func(c map[string]any) { c["iss"] = other.issuer })), ReasonSignature},
		{"another issuer claimed with our key", as.mint(t, claims(func(c map[string]any) { c["iss"] = other.issuer })), ReasonIssuer},
		{"expired", as.mint(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), ReasonExpired},
		{"not yet valid", as.mint(t, claims(func(c map[string]any) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() })), ReasonNotYet},
		{"no exp", as.mint(t, claims(func(c map[string]any) { delete(c, "exp") })), ReasonClaims},
		{"bad signature", sign(t, otherKey, as.kid, jose.ES256, "at+jwt", claims(func(map[string]any) {})), ReasonSignature},
		{"alg none", noneToken, ReasonAlgorithm},
		{"HS256 with public key bytes", sign(t, []byte("0123456789abcdef0123456789abcdef"), as.kid, jose.HS256, "at+jwt", claims(func(map[string]any) {})), ReasonAlgorithm},
		{"without aud", as.mint(t, claims(func(c map[string]any) { delete(c, "aud") })), ReasonAudience},
		{"typ JWT (an ID token)", sign(t, as.key, as.kid, jose.ES256, "JWT", claims(func(map[string]any) {})), ReasonType},
		{"no sub", as.mint(t, claims(func(c map[string]any) { delete(c, "sub") })), ReasonClaims},
		{"garbage", "not-a-token", ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := m.post(t, tc.token, callEcho)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			ch, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
			if err != nil || len(ch) != 1 {
				t.Fatalf("challenge %q: %v", resp.Header.Get("WWW-Authenticate"), err)
			}
			if ch[0].Params["error"] != "invalid_token" || ch[0].Params["resource_metadata"] != m.p.MetadataURL() {
				t.Errorf("challenge %+v", ch[0])
			}
			if strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.token) || strings.Contains(string(body), tc.token) {
				t.Error("response echoes the token")
			}
		})
	}
	if m.calls.Load() != 0 {
		t.Errorf("tool ran %d times", m.calls.Load())
	}
	// Each reason is visible to the verifier's caller.
	for _, tc := range cases {
		_, err := m.p.cfg.Verifier.Verify(context.Background(), tc.token)
		if te, ok := err.(*TokenError); !ok || te.Reason != tc.reason {
			t.Errorf("%s: err %v, want reason %s", tc.name, err, tc.reason)
		}
	}
}

func TestValidTokenCallsToolWithoutForwardingIt(t *testing.T) {
	as := newTestAS(t)
	var seen http.Header
	var info *TokenInfo
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v, _ := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: srv.URL + "/mcp"})
	p, err := New(Config{Resource: srv.URL + "/mcp", AuthorizationServers: []string{as.issuer}, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	p.Mount(mux, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, info = r.Header.Clone(), TokenInfoFromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	c := as.claims(srv.URL+"/mcp", "echo:use")
	c["aud"] = []string{"https://other.example", srv.URL + "/mcp"}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp", strings.NewReader(callEcho))
	req.Header.Set("Authorization", "Bearer "+as.mint(t, c))
	req.Header.Add("Authorization", "Bearer another-token") // a second field is not passed on either
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if v := seen.Values("Authorization"); len(v) > 0 {
		t.Errorf("the Authorization header reached the wrapped handler: %q", v)
	}
	if info == nil || info.Subject != "alice" || info.ClientID != "client-1" || !info.HasScopes("echo:use") {
		t.Errorf("TokenInfo %+v", info)
	}
}

func TestInsufficientScopeGets403BeforeToolRuns(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	token := as.mint(t, as.claims(m.resource, "echo:use"))
	resp := m.post(t, token, callAdmin)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ch, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(ch) != 1 {
		t.Fatal(err)
	}
	if ch[0].Params["error"] != "insufficient_scope" || ch[0].Params["scope"] != "admin:use echo:use" ||
		ch[0].Params["resource_metadata"] != m.p.MetadataURL() {
		t.Errorf("challenge %+v", ch[0].Params)
	}
	// A batch asks for the union of its calls' scopes.
	batch := "[" + callEcho + "," + strings.Replace(callAdmin, `"id":1`, `"id":2`, 1) + "]"
	resp = m.post(t, as.mint(t, as.claims(m.resource, "")), batch)
	ch, _ = oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if resp.StatusCode != http.StatusForbidden || len(ch) != 1 || ch[0].Params["scope"] != "echo:use admin:use" {
		t.Errorf("batch: %d %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if m.calls.Load() != 0 {
		t.Errorf("tool ran %d times", m.calls.Load())
	}
}

func TestAmbiguousJSONRPCIsRefused(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	token := as.mint(t, as.claims(m.resource, "echo:use"))
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"admin"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"admin"}}`,
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"adm\xffin\"}}",
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`,
		`not json`,
	} {
		if resp := m.post(t, token, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: status %d", body, resp.StatusCode)
		}
	}
	m2 := newTestMCP(t, as, func(c *Config) { c.MaxBodyBytes = 64 })
	token2 := as.mint(t, as.claims(m2.resource, "echo:use"))
	if resp := m2.post(t, token2, callEcho+strings.Repeat(" ", 100)); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d", resp.StatusCode)
	}
	if m.calls.Load()+m2.calls.Load() != 0 {
		t.Error("a tool ran")
	}
}

func TestGoSDKClientListsOnlyPermittedToolsAndCalls(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	cs := m.connect(t, ptr(as.mint(t, as.claims(m.resource, "echo:use"))))
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lt.Tools) != 1 || lt.Tools[0].Name != "echo" {
		t.Errorf("tools/list shows %v, want only echo", lt.Tools)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "hi for alice" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "admin", Arguments: map[string]any{"text": "hi"}}); err == nil {
		t.Error("admin call without admin:use succeeded")
	}
}

func TestSessionOfAnotherUserIsRefused(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	alice := as.mint(t, as.claims(m.resource, "echo:use"))
	bobClaims := as.claims(m.resource, "echo:use")
	bobClaims["sub"] = "bob"
	bob := as.mint(t, bobClaims)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	resp := m.post(t, alice, init)
	sid := resp.Header.Get("Mcp-Session-Id")
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d, session %q", resp.StatusCode, sid)
	}
	hdr := []string{"Mcp-Session-Id", sid, "Mcp-Protocol-Version", "2025-06-18"}
	if resp := m.post(t, bob, callEcho, hdr...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on alice's session: status %d", resp.StatusCode)
	}
	if m.calls.Load() != 0 {
		t.Error("tool ran for bob")
	}
	notif := `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	if resp := m.post(t, alice, notif, hdr...); resp.StatusCode != http.StatusAccepted {
		t.Errorf("alice on her session: status %d", resp.StatusCode)
	}
}

func TestVerifierOutageGets503(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	token := as.mint(t, as.claims(m.resource, "echo:use"))
	as.srv.Close() // the AS is down before its keys were ever fetched
	if resp := m.post(t, token, callEcho); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
}

func TestTokenExpiredWithinClockSkewIsAccepted(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, nil)
	c := as.claims(m.resource, "echo:use")
	c["exp"] = time.Now().Add(-10 * time.Second).Unix() // within the default 30s skew
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	if resp := m.post(t, as.mint(t, c), init); resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
}

func TestCustomVerifierWithoutExpiry(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) {
		c.Verifier = VerifierFunc(func(_ context.Context, token string) (*TokenInfo, error) {
			if token != "opaque-ok" {
				return nil, &TokenError{Reason: ReasonInactive}
			}
			return &TokenInfo{Issuer: as.issuer, Subject: "carol", Scopes: []string{"echo:use"}}, nil
		})
	})
	cs := m.connect(t, ptr("opaque-ok"))
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError || res.Content[0].(*mcp.TextContent).Text != "hi for carol" {
		t.Fatalf("call: %v %+v", err, res)
	}
	if resp := m.post(t, "opaque-bad", callEcho); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad opaque token: %d", resp.StatusCode)
	}
}

func TestCORSForBrowserClients(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) { c.AllowedOrigins = []string{"https://app.example"} })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, m.resource, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, mcp-protocol-version")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", resp.Header)
	}
	// The 401 is readable by the page, so it can discover the AS.
	resp = m.post(t, "", callEcho, "Origin", "https://app.example")
	if resp.StatusCode != 401 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
		t.Errorf("401 for a browser: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestLogsAndErrorsNeverHoldTheToken(t *testing.T) {
	as := newTestAS(t)
	var logs strings.Builder
	m := newTestMCP(t, as, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.RateLimits = &RateLimits{PerUser: Limit{Requests: 1, Window: time.Hour}}
	})
	good := as.mint(t, as.claims(m.resource, "echo:use"))
	expired := as.claims(m.resource, "echo:use")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	bad := as.mint(t, expired)
	var bodies strings.Builder
	for _, tc := range []struct{ token, body string }{{bad, callEcho}, {good, callAdmin}, {good, callEcho}, {good, callEcho}, {good, "{"}} {
		resp := m.post(t, tc.token, tc.body)
		b, _ := io.ReadAll(resp.Body)
		bodies.Write(b)
		bodies.WriteString(strings.Join(resp.Header.Values("WWW-Authenticate"), " "))
	}
	if !strings.Contains(logs.String(), "rate limited") || !strings.Contains(logs.String(), "insufficient_scope") {
		t.Errorf("expected log records missing:\n%s", logs.String())
	}
	for _, tok := range []string{good, bad} {
		sig := tok[strings.LastIndex(tok, ".")+1:]
		if strings.Contains(logs.String(), sig) || strings.Contains(bodies.String(), sig) {
			t.Errorf("a token appears in logs or responses")
		}
	}
}

func TestScopeHierarchy(t *testing.T) {
	as := newTestAS(t)
	m := newTestMCP(t, as, func(c *Config) { c.ScopeHierarchy = ScopeHierarchy{"admin:use": {"echo:use"}} })
	cs := m.connect(t, ptr(as.mint(t, as.claims(m.resource, "admin:use"))))
	ctx := context.Background()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil || len(lt.Tools) != 2 {
		t.Fatalf("tools/list with admin:use: %v %v", err, lt)
	}
	for _, name := range []string{"echo", "admin"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{"text": "x"}})
		if err != nil || res.IsError {
			t.Errorf("%s with admin:use (implies echo:use): %v %+v", name, err, res)
		}
	}
	if _, err := New(Config{Resource: m.resource, AuthorizationServers: []string{as.issuer}, Verifier: m.p.cfg.Verifier,
		ScopesSupported: []string{"echo:use", "offline_access"}}); err == nil {
		t.Error("offline_access accepted in ScopesSupported")
	}
}

func TestCallScopesFromArguments(t *testing.T) {
	as := newTestAS(t)
	// Echoing the word "secret" needs a further scope, decided per call.
	m := newTestMCP(t, as, func(c *Config) {
		c.CallScopes = func(call ToolCall) []string {
			var args struct {
				Text string `json:"text"`
			}
			if call.Name == "echo" && json.Unmarshal(call.Arguments, &args) == nil && args.Text == "secret" {
				return []string{"secret:read"}
			}
			return nil
		}
	})
	token := as.mint(t, as.claims(m.resource, "echo:use"))
	resp := m.post(t, token, strings.Replace(callEcho, `"hi"`, `"secret"`, 1))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="echo:use secret:read"`) {
		t.Errorf("secret echo: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The same check runs inside the MCP server (defence in depth).
	cs := m.connect(t, ptr(token))
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hi"}}); err != nil {
		t.Errorf("plain echo: %v", err)
	}
	if m.calls.Load() != 1 {
		t.Errorf("tool ran %d times, want 1", m.calls.Load())
	}
}

// readBody reads the whole body whatever Content-Length claims (smaller,
// larger, unknown), and never more than the limit plus one byte (it bounds
// the read itself).
func TestReadBodyIgnoresAWrongContentLength(t *testing.T) {
	body := strings.Repeat("x", 1000)
	for _, declared := range []int64{-1, 0, 10, 999, 1000, 5000, 1 << 40} {
		got, err := readBody(strings.NewReader(body), declared, 2000)
		if err != nil || string(got) != body {
			t.Errorf("Content-Length %d: read %d bytes, %v", declared, len(got), err)
		}
		got, _ = readBody(strings.NewReader(body), declared, 100)
		if len(got) != 101 {
			t.Errorf("Content-Length %d, limit 100: read %d bytes, want 101 (limit+1: too large)", declared, len(got))
		}
	}
}
