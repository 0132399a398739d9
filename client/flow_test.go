package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable Config.Now.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// TestFirstConnectRequestCounts shows that a first connect makes each discovery and
// registration request once: no redundant request.
func TestFirstConnectRequestCounts(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, b))
	callEcho(t, ctx, s, "x")
	s.Close()
	for name, got := range map[string]int{
		"protected resource metadata": rs.count("prm"),
		"AS metadata":                 as.count("metadata"),
		"registration":                as.count("register"),
		"authorization":               as.count("authorize"),
		"token":                       as.count("token"),
		"401 from the MCP server":     rs.count("401"),
	} {
		if got != 1 {
			t.Errorf("%s requests = %d, want 1", name, got)
		}
	}
}

// TestStoredTokenMakesNoOAuthRequest shows that a connect with a valid stored token makes
// no OAuth request at all (go-sdk gap: nothing to persist), and that the registration is
// reused by a later authorization (go-sdk gap: a new DCR client per Authorize).
func TestStoredTokenMakesNoOAuthRequest(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	cfg := testConfig(rs, b)
	s := mustConnect(t, ctx, cfg)
	s.Close()
	before := map[string]int{"prm": rs.count("prm"), "metadata": as.count("metadata"), "register": as.count("register"), "authorize": as.count("authorize"), "token": as.count("token"), "401": rs.count("401")}

	s, err := Connect(ctx, cfg) // a new Client, as a second process would make
	if err != nil {
		t.Fatalf("second Connect: %v", err)
	}
	callEcho(t, ctx, s, "again")
	s.Close()
	after := map[string]int{"prm": rs.count("prm"), "metadata": as.count("metadata"), "register": as.count("register"), "authorize": as.count("authorize"), "token": as.count("token"), "401": rs.count("401")}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s requests went from %d to %d on a connect with a valid stored token", k, v, after[k])
		}
	}

	// Drop the token but keep the registration: the next authorization reuses it.
	entries, _ := cfg.Store.List(ctx, rs.url)
	entries[0].Token = nil
	cfg.Store.Put(ctx, entries[0])
	s = mustConnect(t, ctx, cfg)
	s.Close()
	if n := as.count("register"); n != 1 {
		t.Errorf("registrations = %d, want 1 (reused)", n)
	}
	if n := as.count("authorize"); n != 2 {
		t.Errorf("authorizations = %d, want 2", n)
	}
}

// TestRefreshSendsResourceAndKeepsRotation shows refresh before expiry with the resource
// parameter (go-sdk gap: x/oauth2 sends none) and the rotated refresh token kept.
func TestRefreshSendsResourceAndKeepsRotation(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	var clk clock
	cfg := testConfig(rs, b)
	cfg.Now = clk.now
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Connect(ctx, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s.Close()
	first := c.state.entry.Token.RefreshToken
	for i := range 2 {
		clk.advance(2 * time.Hour) // the client thinks its token expired
		callEcho(t, ctx, s, fmt.Sprint(i))
	}
	forms := as.tokenForms("refresh_token")
	if len(forms) != 2 {
		t.Fatalf("refresh requests = %d, want 2", len(forms))
	}
	for _, f := range forms {
		if f.Get("resource") != rs.url {
			t.Errorf("refresh resource = %q, want %q", f.Get("resource"), rs.url)
		}
	}
	if forms[0].Get("refresh_token") != first || forms[1].Get("refresh_token") == first {
		t.Errorf("the rotated refresh token was not used")
	}
	if b.count() != 1 {
		t.Errorf("authorizations = %d, want 1", b.count())
	}
}

// TestRefreshKeepsOldRefreshToken: a refresh response without refresh_token keeps the old one.
func TestRefreshKeepsOldRefreshToken(t *testing.T) {
	as := newTestAS(t)
	as.keepRefresh = true
	rs := newTestRS(t, as)
	ctx := testContext(t)
	var clk clock
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.Now = clk.now
	c, _ := New(cfg)
	s, err := c.Connect(ctx, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s.Close()
	rt := c.state.entry.Token.RefreshToken
	for i := range 2 {
		clk.advance(2 * time.Hour)
		callEcho(t, ctx, s, fmt.Sprint(i))
	}
	forms := as.tokenForms("refresh_token")
	if len(forms) != 2 || forms[1].Get("refresh_token") != rt {
		t.Fatalf("second refresh did not reuse the kept refresh token (%d refreshes)", len(forms))
	}
}

// TestRefreshOn401 shows a refresh when the server refuses a token the client thought valid.
func TestRefreshOn401(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	ctx := testContext(t)
	b := &headlessBrowser{}
	c, _ := New(testConfig(rs, b))
	s, err := c.Connect(ctx, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer s.Close()
	as.mu.Lock()
	clear(as.tokens) // the server forgets every access token
	as.mu.Unlock()
	callEcho(t, ctx, s, "after revocation")
	if n := len(as.tokenForms("refresh_token")); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	if b.count() != 1 {
		t.Errorf("authorizations = %d, want 1", b.count())
	}
}

// postInitialize sends an initialize request through hc.
func postInitialize(ctx context.Context, hc *http.Client, url string) (int, error) {
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestConcurrent401sOneAuthorization: N requests refused at once lead to one authorization
// (go-sdk gap: each starts its own), then N concurrent expiries to one refresh.
func TestConcurrent401sOneAuthorization(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	var clk clock
	cfg := testConfig(rs, b)
	cfg.Now = clk.now
	c, _ := New(cfg)
	const n = 16
	run := func() {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				status, err := postInitialize(ctx, c.HTTPClient(), rs.url)
				if err == nil && status != http.StatusOK {
					err = fmt.Errorf("status %d", status)
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if b.count() != 1 || as.count("register") != 1 || as.count("token") != 1 {
		t.Fatalf("authorizations = %d, registrations = %d, token requests = %d; want 1 each", b.count(), as.count("register"), as.count("token"))
	}
	clk.advance(2 * time.Hour)
	run()
	if got := len(as.tokenForms("refresh_token")); got != 1 {
		t.Fatalf("refreshes = %d, want 1", got)
	}
}

// TestUserDeniedAsksOnce: a refused authorization becomes a UserDeniedError, and Connect
// does not ask again for its second request (go-sdk gap: it asks twice).
func TestUserDeniedAsksOnce(t *testing.T) {
	as := newTestAS(t)
	as.authError = "access_denied"
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	_, err := Connect(testContext(t), testConfig(rs, b))
	var denied *UserDeniedError
	if !errors.As(err, &denied) {
		t.Fatalf("Connect error = %v, want a UserDeniedError", err)
	}
	if b.count() != 1 {
		t.Errorf("the user was asked %d times, want 1", b.count())
	}
}

// TestGET401Surfaced: a 401 on a GET (the standalone SSE stream) that a refresh does not
// cure is an AuthorizationRequiredError, not swallowed (go-sdk gap), and never prompts.
func TestGET401Surfaced(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	c, _ := New(testConfig(rs, b))
	if _, err := c.Token(ctx); err != nil {
		t.Fatalf("Token: %v", err)
	}
	rs.mu.Lock()
	rs.rejectGET = true
	rs.mu.Unlock()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rs.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.HTTPClient().Do(req)
	if err == nil {
		resp.Body.Close()
	}
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.StatusCode != http.StatusUnauthorized || len(are.Challenges) == 0 {
		t.Fatalf("GET error = %v, want an AuthorizationRequiredError with the challenge", err)
	}
	if b.count() != 1 {
		t.Errorf("authorizations = %d, want 1 (a GET never prompts)", b.count())
	}
	// go-sdk retries a failed stream: the retries do not refresh again and again.
	refreshes := len(as.tokenForms("refresh_token"))
	for range 3 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rs.url, nil)
		if _, err := c.HTTPClient().Do(req); !errors.As(err, &are) {
			t.Fatalf("retried GET: %v", err)
		}
	}
	if n := len(as.tokenForms("refresh_token")); n != refreshes {
		t.Errorf("retried GETs made %d more refreshes, want 0", n-refreshes)
	}
}

// TestStepUpUnionOfScopes: 403 insufficient_scope leads to an authorization for the union
// of the scopes held and the scopes required.
func TestStepUpUnionOfScopes(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	rs.challengeScope = "mcp:read"
	rs.scopes["tools/call"] = []string{"mcp:read", "mcp:write"}
	b := &headlessBrowser{}
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, b))
	defer s.Close()
	callEcho(t, ctx, s, "write")
	if b.count() != 2 {
		t.Fatalf("authorizations = %d, want 2", b.count())
	}
	as.mu.Lock()
	first, second := as.authReqs[0].Get("scope"), as.authReqs[1].Get("scope")
	as.mu.Unlock()
	if first != "mcp:read" || second != "mcp:read mcp:write" {
		t.Errorf("scopes requested = %q then %q", first, second)
	}
}

// TestStepUpLimit: a server that never accepts the scopes granted gets at most 3
// authorizations for one operation, then an InsufficientScopeError.
func TestStepUpLimit(t *testing.T) {
	as := newTestAS(t)
	as.grantedScope = func(string) string { return "mcp:read" } // the AS never grants more
	rs := newTestRS(t, as)
	rs.scopes["tools/call"] = []string{"mcp:admin"}
	b := &headlessBrowser{}
	ctx := testContext(t)
	s := mustConnect(t, ctx, testConfig(rs, b))
	defer s.Close()
	before := b.count()
	_, err := s.CallTool(ctx, &mcpCallEcho)
	var ise *InsufficientScopeError
	if !errors.As(err, &ise) {
		t.Fatalf("CallTool error = %v, want an InsufficientScopeError", err)
	}
	if n := b.count() - before; n != 3 || ise.Attempts != 3 {
		t.Errorf("authorizations for the operation = %d (error says %d), want 3", n, ise.Attempts)
	}
}

// TestStepUpNotRepeatedForGrantedScopes: when the token already holds the scopes a 403
// names, another authorization cannot help (the conformance suite's retry-limit server): the
// error comes at once.
func TestStepUpNotRepeatedForGrantedScopes(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	rs.challengeScope = "mcp:admin"
	ctx := testContext(t)
	b := &headlessBrowser{}
	s := mustConnect(t, ctx, testConfig(rs, b))
	defer s.Close()
	rs.mu.Lock()
	rs.forbidCalls = true
	rs.mu.Unlock()
	for range 3 {
		_, err := s.CallTool(ctx, &mcpCallEcho)
		var ise *InsufficientScopeError
		if !errors.As(err, &ise) {
			t.Fatalf("error = %v, want InsufficientScopeError", err)
		}
	}
	if b.count() != 1 {
		t.Fatalf("authorizations = %d, want 1", b.count())
	}
}

// TestNoSecretsInLogsOrErrors runs flows with debug logging and checks that no token,
// secret or code appears in a log line or an error message.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	as := newTestAS(t)
	as.meta["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"}
	rs := newTestRS(t, as)
	rs.scopes["tools/call"] = []string{"mcp:admin"}
	as.grantedScope = func(string) string { return "mcp:read" }
	var logs bytes.Buffer
	var clk clock
	cfg := testConfig(rs, &headlessBrowser{})
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Now = clk.now
	ctx := testContext(t)
	s := mustConnect(t, ctx, cfg)
	defer s.Close()
	clk.advance(2 * time.Hour)
	_, err := s.CallTool(ctx, &mcpCallEcho)
	if err == nil {
		t.Fatal("CallTool succeeded; want an insufficient scope error")
	}
	text := logs.String() + "\n" + err.Error()
	as.mu.Lock()
	defer as.mu.Unlock()
	var secrets []string
	for tok := range as.tokens {
		secrets = append(secrets, tok)
	}
	for rt := range as.refresh {
		secrets = append(secrets, rt)
	}
	for _, c := range as.clients {
		secrets = append(secrets, c.secret)
	}
	for _, f := range as.forms {
		secrets = append(secrets, f.Get("code"), f.Get("code_verifier"), f.Get("refresh_token"))
	}
	if len(secrets) < 5 {
		t.Fatalf("only %d secrets collected", len(secrets))
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(text, sec) {
			t.Errorf("secret %.6s… appears in logs or errors", sec)
		}
	}
	if !strings.Contains(logs.String(), "registered a client") {
		t.Errorf("logs lack the registration line:\n%s", logs.String())
	}
}

// countingTransport counts the requests sent through it, by host.
type countingTransport struct {
	mu sync.Mutex
	n  map[string]int
}

func (ct *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ct.mu.Lock()
	ct.n[r.URL.Host]++
	ct.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestEveryRequestThroughConfigHTTPClient: discovery, registration, token and MCP requests
// all go through Config.HTTPClient (mcpauth demo prints every exchange this way).
func TestEveryRequestThroughConfigHTTPClient(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	ct := &countingTransport{n: map[string]int{}}
	cfg := testConfig(rs, &headlessBrowser{}) // the browser itself does not use the client
	cfg.HTTPClient = &http.Client{Transport: ct}
	ctx := testContext(t)
	s := mustConnect(t, ctx, cfg)
	callEcho(t, ctx, s, "counted")
	s.Close()
	asHost := strings.TrimPrefix(as.srv.URL, "http://")
	rsHost := strings.TrimPrefix(rs.srv.URL, "http://")
	if want := as.count("metadata") + as.count("register") + as.count("token"); ct.n[asHost] != want {
		t.Errorf("requests to the AS through Config.HTTPClient = %d, want %d", ct.n[asHost], want)
	}
	if want := rs.count("prm") + rs.count("mcp"); ct.n[rsHost] != want {
		t.Errorf("requests to the MCP server through Config.HTTPClient = %d, want %d", ct.n[rsHost], want)
	}
}

// TestForbiddenWithoutScopeChallengePassesThrough: a 403 that is not insufficient_scope is
// the server's answer (its body may carry a JSON-RPC error), not a reason to authorize.
func TestForbiddenWithoutScopeChallengePassesThrough(t *testing.T) {
	b := &headlessBrowser{}
	forbidden := httptestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"no"}}`, http.StatusForbidden)
	}))
	c, _ := New(Config{ServerURL: forbidden + "/mcp", Store: NewMemoryStore(), OpenBrowser: b.open, Stderr: io.Discard})
	status, err := postInitialize(testContext(t), c.HTTPClient(), forbidden+"/mcp")
	if err != nil || status != http.StatusForbidden || b.count() != 0 {
		t.Fatalf("status %d, err %v, %d authorizations; want the 403 itself", status, err, b.count())
	}
}

// TestRefusedFreshTokenIsTypedError: a server that refuses even a token just obtained gets
// one authorization for the operation, then an AuthorizationRequiredError with its challenge.
func TestRefusedFreshTokenIsTypedError(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	rs.prmResource = rs.srv.URL // tokens for the origin, which this server does not accept
	b := &headlessBrowser{}
	c, _ := New(testConfig(rs, b))
	status, err := postInitialize(testContext(t), c.HTTPClient(), rs.url)
	var are *AuthorizationRequiredError
	if !errors.As(err, &are) || are.StatusCode != http.StatusUnauthorized || len(are.Challenges) != 1 || are.Challenges[0].Params["error"] != "invalid_token" {
		t.Fatalf("status %d, error %v; want an AuthorizationRequiredError with the challenge", status, err)
	}
	if b.count() != 1 {
		t.Fatalf("authorizations = %d, want 1", b.count())
	}
	if !strings.Contains(err.Error(), "the server says invalid_token") {
		t.Errorf("error text %q does not give the server's reason", err)
	}
}

// TestSharedStoreRefreshedOnce: two processes share a store; after one refreshed (rotating
// the refresh token), the other takes the stored token instead of spending the old refresh
// token, which the authorization server would refuse.
func TestSharedStoreRefreshedOnce(t *testing.T) {
	as := newTestAS(t)
	rs := newTestRS(t, as)
	b := &headlessBrowser{}
	ctx := testContext(t)
	var clk clock
	cfg := testConfig(rs, b)
	cfg.Now = clk.now
	first := mustConnect(t, ctx, cfg)
	defer first.Close()
	second := mustConnect(t, ctx, cfg)
	defer second.Close()
	clk.advance(2 * time.Hour)
	callEcho(t, ctx, first, "1")
	callEcho(t, ctx, second, "2")
	if n := len(as.tokenForms("refresh_token")); n != 1 {
		t.Errorf("refreshes = %d, want 1", n)
	}
	if b.count() != 1 {
		t.Errorf("authorizations = %d, want 1", b.count())
	}
}
