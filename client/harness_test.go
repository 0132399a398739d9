package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
)

// testAS is a small OAuth 2.1 authorization server for unit tests. It is a hand-written
// fake on purpose: these tests need faults no real server produces on demand (expired
// secrets, forgotten clients, missing iss, huge documents) and exact request counts. The
// real peers (oidc-provider, our authserver, the conformance suite) are exercised by the
// interop tests in test/ and cmd/conformance-client.
type testAS struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string

	mu       sync.Mutex
	counts   map[string]int
	meta     map[string]any // overrides of metadata fields; a nil value removes one
	clients  map[string]testASClient
	codes    map[string]testCode
	tokens   map[string]testGrant // access token → grant
	refresh  map[string]testGrant // refresh token → grant
	forms    []url.Values         // token requests
	authReqs []url.Values         // authorization requests
	headers  []http.Header        // token request headers
	regs     []map[string]any     // registration requests

	tokenTTL     time.Duration
	noRefresh    bool   // issue no refresh token
	keepRefresh  bool   // do not rotate refresh tokens
	authError    string // answer authorization requests with error=
	omitIss      bool   // leave iss out of authorization responses
	wrongIss     string // send this iss instead
	grantedScope func(requested string) string
	secretTTL    time.Duration // registered client secrets expire after this
	regError     *oauthErrorBody
}

type testASClient struct {
	secret     string
	authMethod string
	expires    time.Time
}

type testCode struct {
	clientID, redirectURI, challenge, resource, scope string
}

type testGrant struct {
	clientID, resource, scope string
	expires                   time.Time
}

func newTestAS(t *testing.T) *testAS {
	mux := http.NewServeMux()
	as := newTestASOn(t, mux)
	as.srv = httptest.NewServer(mux)
	t.Cleanup(as.srv.Close)
	as.issuer = as.srv.URL
	return as
}

// newTestASOn registers the authorization server's routes on mux; the caller sets srv and
// issuer.
func newTestASOn(t *testing.T, mux *http.ServeMux) *testAS {
	as := &testAS{
		t: t, counts: map[string]int{}, meta: map[string]any{},
		clients: map[string]testASClient{}, codes: map[string]testCode{},
		tokens: map[string]testGrant{}, refresh: map[string]testGrant{},
		tokenTTL: time.Hour,
	}
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", as.metadata)
	mux.HandleFunc("POST /register", as.register)
	mux.HandleFunc("GET /authorize", as.authorize)
	mux.HandleFunc("POST /token", as.token)
	return as
}

func (as *testAS) count(name string) int {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.counts[name]
}

func (as *testAS) inc(name string) {
	as.mu.Lock()
	as.counts[name]++
	as.mu.Unlock()
}

func (as *testAS) metadata(w http.ResponseWriter, r *http.Request) {
	as.inc("metadata")
	m := map[string]any{
		"issuer":                                         as.issuer,
		"authorization_endpoint":                         as.issuer + "/authorize",
		"token_endpoint":                                 as.issuer + "/token",
		"registration_endpoint":                          as.issuer + "/register",
		"response_types_supported":                       []string{"code"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		"authorization_response_iss_parameter_supported": true,
	}
	as.mu.Lock()
	for k, v := range as.meta {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	as.mu.Unlock()
	writeJSON(w, http.StatusOK, m)
}

func (as *testAS) register(w http.ResponseWriter, r *http.Request) {
	as.inc("register")
	var meta map[string]any
	if err := json.NewDecoder(r.Body).Decode(&meta); err != nil {
		writeJSON(w, 400, oauthErrorBody{Code: "invalid_client_metadata"})
		return
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	as.regs = append(as.regs, meta)
	if as.regError != nil {
		writeJSON(w, 400, as.regError)
		return
	}
	id := fmt.Sprintf("client-%d", len(as.clients)+1)
	method, _ := meta["token_endpoint_auth_method"].(string)
	c := testASClient{authMethod: method}
	resp := map[string]any{"client_id": id, "token_endpoint_auth_method": method, "redirect_uris": meta["redirect_uris"]}
	if method != "none" {
		c.secret = "secret-of-" + id
		resp["client_secret"] = c.secret
		if as.secretTTL != 0 {
			c.expires = time.Now().Add(as.secretTTL)
			resp["client_secret_expires_at"] = c.expires.Unix()
		} else {
			resp["client_secret_expires_at"] = 0
		}
	}
	as.clients[id] = c
	writeJSON(w, http.StatusCreated, resp)
}

// authorize approves at once, like the conformance suite's server: 302 to the redirect URI.
func (as *testAS) authorize(w http.ResponseWriter, r *http.Request) {
	as.inc("authorize")
	q := r.URL.Query()
	as.mu.Lock()
	as.authReqs = append(as.authReqs, q)
	authError, omitIss, wrongIss := as.authError, as.omitIss, as.wrongIss
	_, known := as.clients[q.Get("client_id")]
	as.mu.Unlock()
	if !known && !strings.HasPrefix(q.Get("client_id"), "https://") && !strings.HasPrefix(q.Get("client_id"), "pre-") {
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	rq := url.Values{"state": {q.Get("state")}}
	switch {
	case wrongIss != "":
		rq.Set("iss", wrongIss)
	case !omitIss:
		rq.Set("iss", as.issuer)
	}
	if authError != "" {
		rq.Set("error", authError)
		rq.Set("error_description", "the user said no")
	} else {
		code := randomString()
		as.mu.Lock()
		as.codes[code] = testCode{q.Get("client_id"), q.Get("redirect_uri"), q.Get("code_challenge"), q.Get("resource"), q.Get("scope")}
		as.mu.Unlock()
		rq.Set("code", code)
	}
	redirect.RawQuery = rq.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (as *testAS) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	form := r.PostForm
	grantType := form.Get("grant_type")
	as.inc("token")
	as.inc("token:" + grantType)
	as.mu.Lock()
	defer as.mu.Unlock()
	as.forms = append(as.forms, form)
	as.headers = append(as.headers, r.Header.Clone())
	clientID, ok := as.authenticate(r, form)
	if !ok {
		writeJSON(w, 401, oauthErrorBody{Code: "invalid_client"})
		return
	}
	var g testGrant
	switch grantType {
	case "authorization_code":
		c, ok := as.codes[form.Get("code")]
		delete(as.codes, form.Get("code"))
		if !ok || c.clientID != clientID || c.redirectURI != form.Get("redirect_uri") ||
			oauth2.S256ChallengeFromVerifier(form.Get("code_verifier")) != c.challenge || c.resource != form.Get("resource") {
			writeJSON(w, 400, oauthErrorBody{Code: "invalid_grant"})
			return
		}
		g = testGrant{clientID: clientID, resource: c.resource, scope: c.scope}
	case "refresh_token":
		old, ok := as.refresh[form.Get("refresh_token")]
		if !ok || old.clientID != clientID || form.Get("resource") != old.resource {
			writeJSON(w, 400, oauthErrorBody{Code: "invalid_grant"})
			return
		}
		if !as.keepRefresh {
			delete(as.refresh, form.Get("refresh_token"))
		}
		g = old
	case "client_credentials":
		g = testGrant{clientID: clientID, resource: form.Get("resource"), scope: form.Get("scope")}
	default:
		writeJSON(w, 400, oauthErrorBody{Code: "unsupported_grant_type"})
		return
	}
	if as.grantedScope != nil {
		g.scope = as.grantedScope(g.scope)
	}
	g.expires = time.Now().Add(as.tokenTTL)
	access := "at-" + randomString()
	as.tokens[access] = g
	resp := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": int(as.tokenTTL / time.Second), "scope": g.scope}
	if !as.noRefresh && grantType != "client_credentials" && !(as.keepRefresh && grantType == "refresh_token") {
		rt := "rt-" + randomString()
		as.refresh[rt] = g
		resp["refresh_token"] = rt
	}
	writeJSON(w, 200, resp)
}

// authenticate checks the client authentication of a token request (as.mu held).
func (as *testAS) authenticate(r *http.Request, form url.Values) (string, bool) {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Basic ") {
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		id, secret, _ := strings.Cut(string(raw), ":")
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		c, ok := as.clients[id]
		return id, ok && c.secret == secret && (c.expires.IsZero() || time.Now().Before(c.expires))
	}
	id := form.Get("client_id")
	if form.Get("client_assertion") != "" || strings.HasPrefix(id, "https://") {
		return id, true // checked by the tests that use them
	}
	c, ok := as.clients[id]
	if !ok {
		return id, false
	}
	if c.secret != "" {
		return id, form.Get("client_secret") == c.secret && (c.expires.IsZero() || time.Now().Before(c.expires))
	}
	return id, true
}

// grant returns the grant of an access token, if valid.
func (as *testAS) grant(token string) (testGrant, bool) {
	as.mu.Lock()
	defer as.mu.Unlock()
	g, ok := as.tokens[token]
	return g, ok && time.Now().Before(g.expires)
}

func (as *testAS) tokenForms(grantType string) []url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	var out []url.Values
	for _, f := range as.forms {
		if f.Get("grant_type") == grantType {
			out = append(out, f)
		}
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// testRS is a protected MCP server: a go-sdk server behind bearer checks against a testAS,
// with protected resource metadata at the path-aware well-known URL.
type testRS struct {
	srv *httptest.Server
	as  *testAS
	url string // the MCP endpoint

	mu             sync.Mutex
	counts         map[string]int
	scopes         map[string][]string // JSON-RPC method → required scopes
	challengeScope string              // scope= of 401 challenges
	prmResource    string              // overrides the PRM resource
	prmScopes      []string
	rejectGET      bool // answer every GET with 401
	noPRM          bool // 2025-03-26: no resource_metadata in challenges
	forbidCalls    bool // answer tools/call with 403 insufficient_scope for challengeScope
}

func newTestRS(t *testing.T, as *testAS) *testRS {
	mux := http.NewServeMux()
	rs := newTestRSOn(t, as, mux, true)
	rs.srv = httptest.NewServer(mux)
	t.Cleanup(rs.srv.Close)
	rs.url = rs.srv.URL + "/mcp"
	return rs
}

// newLegacyServer is a 2025-03-26 server: the MCP endpoint and the authorization server on
// one origin, without protected resource metadata.
func newLegacyServer(t *testing.T) (*testAS, *testRS) {
	mux := http.NewServeMux()
	as := newTestASOn(t, mux)
	rs := newTestRSOn(t, as, mux, false)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	as.srv, rs.srv = srv, srv
	as.issuer, rs.url = srv.URL, srv.URL+"/mcp"
	rs.noPRM = true
	return as, rs
}

func newTestRSOn(t *testing.T, as *testAS, mux *http.ServeMux, withPRM bool) *testRS {
	rs := &testRS{as: as, counts: map[string]int{}, scopes: map[string][]string{}}
	server := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echoes text"},
		func(ctx context.Context, req *mcp.CallToolRequest, in struct {
			Text string `json:"text"`
		}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "echo: " + in.Text}}}, nil, nil
		})
	// The server listens on loopback but may play a host of a private network (TestAllowHTTP):
	// go-sdk's DNS rebinding guard for loopback servers would refuse that Host header.
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{DisableLocalhostProtection: true})
	if withPRM {
		mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", rs.prm)
	}
	mux.Handle("/mcp", rs.protect(mcpHandler))
	return rs
}

func (rs *testRS) count(name string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.counts[name]
}

func (rs *testRS) prm(w http.ResponseWriter, r *http.Request) {
	rs.mu.Lock()
	rs.counts["prm"]++
	resource := rs.url
	if rs.prmResource != "" {
		resource = rs.prmResource
	}
	doc := map[string]any{"resource": resource, "authorization_servers": []string{rs.as.issuer}}
	if rs.prmScopes != nil {
		doc["scopes_supported"] = rs.prmScopes
	}
	rs.mu.Unlock()
	writeJSON(w, 200, doc)
}

func (rs *testRS) protect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var method string
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var msg struct {
				Method string `json:"method"`
			}
			json.Unmarshal(body, &msg)
			method = msg.Method
		}
		rs.mu.Lock()
		rs.counts["mcp"]++
		rs.counts["mcp:"+r.Method]++
		required := rs.scopes[method]
		challengeScope := rs.challengeScope
		rejectGET := rs.rejectGET
		as := rs.as
		forbid := rs.forbidCalls && method == "tools/call"
		rs.mu.Unlock()
		prmURL := rs.srv.URL + "/.well-known/oauth-protected-resource/mcp"
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		g, ok := as.grant(token)
		if !ok || g.resource != rs.url || (rejectGET && r.Method == http.MethodGet) {
			ch := fmt.Sprintf(`Bearer resource_metadata="%s"`, prmURL)
			if rs.noPRM {
				ch = `Bearer realm="mcp"`
			}
			if challengeScope != "" {
				ch += fmt.Sprintf(`, scope="%s"`, challengeScope)
			}
			if token != "" {
				ch += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", ch)
			rs.mu.Lock()
			rs.counts["401"]++
			rs.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if forbid {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s", resource_metadata="%s"`, challengeScope, prmURL))
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		if !containsAll(strings.Fields(g.scope), required) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope="%s", resource_metadata="%s"`, strings.Join(required, " "), prmURL))
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headlessBrowser follows the authorization URL with HTTP GETs to the loopback callback,
// like the conformance suite's client, and counts its uses.
type headlessBrowser struct {
	mu   sync.Mutex
	urls []string
}

func (b *headlessBrowser) open(ctx context.Context, authURL string) error {
	b.mu.Lock()
	b.urls = append(b.urls, authURL)
	b.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func (b *headlessBrowser) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.urls)
}

// testConfig returns a Config for rs with a memory store and the headless browser.
func testConfig(rs *testRS, b *headlessBrowser) Config {
	return Config{
		ServerURL:   rs.url,
		ClientName:  "test client",
		Store:       NewMemoryStore(),
		OpenBrowser: b.open,
		Stderr:      io.Discard,
	}
}

func callEcho(t *testing.T, ctx context.Context, s *mcp.ClientSession, text string) string {
	t.Helper()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("CallTool: %v", err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("CallTool result: %+v", res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var mcpCallEcho = mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}

// newCapture starts a server that calls f for each request and answers 200.
func newCapture(t *testing.T, f func(*http.Request)) string {
	return httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(r) }))
}

// httptestServer serves h until the test ends and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type oauthexPRM = oauthex.ProtectedResourceMetadata

func writeExecutable(path, content string) error { return os.WriteFile(path, []byte(content), 0o755) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitForFile waits for a file written by a child process and returns its content.
func waitForFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written", path)
		}
		time.Sleep(10 * time.Millisecond) // polling a file another process writes
	}
}

// mustConnect connects with cfg or fails the test.
func mustConnect(t *testing.T, ctx context.Context, cfg Config) *mcp.ClientSession {
	t.Helper()
	s, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return s
}
