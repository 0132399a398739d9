// Package oidcinterop proves mcpauth's client against oidc-provider v9, a
// real, independent, OpenID-certified authorization server, in front of a
// go-sdk MCP server protected by mcpauth's protect middleware.
package oidcinterop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpauth/mcpauth/client"
	"github.com/mcpauth/mcpauth/internal/testenv"
	"github.com/mcpauth/mcpauth/test/httpcount"
)

// The Client ID Metadata Document is published at an https URL of a test
// host name; provider.mjs routes that origin to a loopback server.
const (
	cimdOrigin = "https://client.mcpauth.test"
	cimdURL    = cimdOrigin + "/oauth/client.json"
)

// clock is the client's Config.Now: real time plus an offset the test moves
// forward to make the stored access token expire without waiting.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time                         { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration)                { c.offset.Add(int64(d)) }
func (c *clock) config(cfg client.Config) client.Config { cfg.Now = c.now; return cfg }

// env is one interop setup: provider, MCP server and the client's file store.
type env struct {
	provider *provider
	mcp      *mcpServer
	storeDir string
	metaURL  string               // Client ID Metadata Document URL, "" for DCR
	output   *syncBuffer          // everything the clients print or log
	requests *httpcount.Transport // the clients' requests, except MCP ones
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newEnv(t *testing.T, useCIMD bool, clients ...map[string]any) *env {
	t.Helper()
	e := &env{mcp: listenMCP(t), storeDir: t.TempDir(), output: &syncBuffer{}}
	e.requests = &httpcount.Transport{Skip: func(r *http.Request) bool { return r.URL.String() == e.mcp.url }}
	var routes map[string]string
	if useCIMD {
		e.metaURL = cimdURL
		doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/oauth/client.json" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"client_id":                  cimdURL,
				"client_name":                "mcpauth interop (CIMD)",
				"redirect_uris":              []string{"http://127.0.0.1/callback"},
				"grant_types":                []string{"authorization_code", "refresh_token"},
				"response_types":             []string{"code"},
				"token_endpoint_auth_method": "none",
				"application_type":           "native",
			})
		}))
		t.Cleanup(doc.Close)
		routes = map[string]string{cimdOrigin: doc.URL}
	}
	e.provider = startProvider(t, []string{e.mcp.url}, routes, clients...)
	e.mcp.serve(t, e.provider.issuer)
	return e
}

// config is what an application would pass: the server URL, a name, the
// metadata document URL (CIMD only) and a file store in its own directory.
// What the client prints and logs (at debug level) goes to e.output.
func (e *env) config(t *testing.T, open func(context.Context, string) error) client.Config {
	return client.Config{
		ServerURL:         e.mcp.url,
		ClientName:        "mcpauth interop",
		ClientMetadataURL: e.metaURL,
		Store:             client.NewFileStore(e.storeDir),
		OpenBrowser:       open,
		HTTPClient:        &http.Client{Transport: e.requests},
		Stderr:            e.output,
		Logger:            slog.New(slog.NewTextHandler(e.output, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// events returns the provider events logged since the previous call.
func (e *env) eventsSince(t *testing.T, from *int) []event {
	t.Helper()
	e.provider.sync(t)
	all := e.provider.snapshot()
	got := all[*from:]
	*from = len(all)
	return got
}

func connect(t *testing.T, cfg client.Config) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	s, err := c.Connect(ctx, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// whoami calls the server's tool and returns its text.
func whoami(t *testing.T, s *mcp.ClientSession) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("tools/call whoami: %v", err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("tools/call whoami: unexpected result %+v", res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// storedEntry returns the client's one stored entry for the MCP server.
func (e *env) storedEntry(t *testing.T) *client.Entry {
	t.Helper()
	return storedEntry(t, client.NewFileStore(e.storeDir), e.mcp.url)
}

// storedEntry returns the store's one entry for the resource.
func storedEntry(t *testing.T, store client.Store, resource string) *client.Entry {
	t.Helper()
	entries, err := store.List(context.Background(), resource)
	if err != nil || len(entries) != 1 || entries[0].Token == nil {
		t.Fatalf("stored entries for %s: %v, %v", resource, entries, err)
	}
	return entries[0]
}

func TestInterop(t *testing.T) {
	// The mcpauth binary is the second process of DCR and CIMD, and the CLI under test.
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	t.Run("DCR", func(t *testing.T) { testInterop(t, bin, false) })
	t.Run("CIMD", func(t *testing.T) { testInterop(t, bin, true) })
	t.Run("CLI", func(t *testing.T) { testCLI(t, bin) })
}

// testInterop: the client registers (DCR) or presents its metadata document
// (CIMD), the user logs in and consents, a tool is called; the access token
// expires and N concurrent calls cause exactly one refresh, which sends
// resource and rotates the refresh token; a second client over the same file
// store, then the mcpauth binary bin (a second process), reuse registration
// and token without a single request to the provider; the rotated-out refresh
// token is refused.
func testInterop(t *testing.T, bin string, useCIMD bool) {
	e := newEnv(t, useCIMD)
	var seen int
	var clk clock

	// 1. First connect: registration, browser login + consent, code exchange.
	browser := newFormBrowser("alice")
	s := connect(t, clk.config(e.config(t, browser.Open)))
	if got := whoami(t, s); !strings.HasPrefix(got, "subject=alice ") {
		t.Fatalf("whoami = %q, want subject alice", got)
	}
	ev := e.eventsSince(t, &seen)
	c := counts(ev)
	t.Logf("first connect: provider events %v", c)
	wantRegistrations := 1
	if useCIMD {
		wantRegistrations = 0
		if c["cimd_fetch"] < 1 {
			t.Errorf("the provider never fetched the client ID metadata document: %v", c)
		}
	}
	if c["registration"] != wantRegistrations || c["authorization"] != 1 || c["token:authorization_code"] != 1 || c["token_error"] != 0 {
		t.Errorf("first connect: provider events %v, want %d registration, 1 authorization, 1 code exchange", c, wantRegistrations)
	}
	wantRequests := map[string]int{
		"GET /.well-known/oauth-protected-resource/mcp": 1,
		"GET /.well-known/oauth-authorization-server":   1,
		"POST /reg":   1,
		"POST /token": 1,
	}
	if useCIMD {
		delete(wantRequests, "POST /reg")
	}
	if got := e.requests.Take(); !maps.Equal(got, wantRequests) {
		t.Errorf("first connect: client requests %v, want each once: %v", got, wantRequests)
	}
	if opened, prompts := browser.submitted(); opened != 1 || strings.Join(prompts, ",") != "login,consent" {
		t.Errorf("browser: opened %d times, forms %v; want once, login then consent", opened, prompts)
	}
	for _, x := range ev {
		switch x.Event {
		case "cimd_fetch":
			if x.URL != cimdURL {
				t.Errorf("the provider fetched %q, want the client ID metadata document %s", x.URL, cimdURL)
			}
		case "registration":
			if x.AppType != "native" || x.AuthMethod != "none" {
				t.Errorf("registration: application_type %q, token_endpoint_auth_method %q; want native, none", x.AppType, x.AuthMethod)
			}
		case "authorization_request":
			// Scopes: PRM scopes_supported, plus offline_access, which the provider lists.
			if x.PKCEMethod == nil || *x.PKCEMethod != "S256" || x.Scope == nil || !sameSet(*x.Scope, mcpScope+" offline_access") {
				t.Errorf("authorization request: code_challenge_method %q, scope %q; want S256, %q", deref(x.PKCEMethod), deref(x.Scope), mcpScope+" offline_access")
			}
		}
		if x.Event == "authorization_request" || x.Event == "token" {
			if x.Resource == nil || *x.Resource != e.mcp.url {
				t.Errorf("%s %s: resource %q, want %s", x.Event, x.GrantType, deref(x.Resource), e.mcp.url)
			}
			if useCIMD && x.ClientID != cimdURL {
				t.Errorf("%s: client_id %q, want the metadata document URL", x.Event, x.ClientID)
			}
		}
	}
	before := e.storedEntry(t)
	if before.Token == nil || before.Token.RefreshToken == "" {
		t.Fatalf("no refresh token stored after the first connect")
	}

	// 2. The access token expires (the client's clock moves past it); eight
	// concurrent calls must cause one refresh: with rotation and reuse
	// revocation, a second refresh with the same token would revoke the grant.
	clk.advance(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
			if err == nil && res.IsError {
				err = errors.New("tool error")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call after expiry: %v", err)
		}
	}
	ev = e.eventsSince(t, &seen)
	c = counts(ev)
	t.Logf("8 concurrent calls after expiry: provider events %v", c)
	if got, want := e.requests.Take(), map[string]int{"POST /token": 1}; !maps.Equal(got, want) {
		t.Errorf("after expiry: client requests %v, want %v", got, want)
	}
	if c["token:refresh_token"] != 1 || len(ev) != 1 {
		t.Errorf("after expiry: provider events %v, want exactly one refresh", c)
	}
	if len(ev) == 1 && (ev[0].Resource == nil || *ev[0].Resource != e.mcp.url) {
		t.Errorf("refresh request: resource %q, want %s", deref(ev[0].Resource), e.mcp.url)
	}
	after := e.storedEntry(t)
	if after.Token.RefreshToken == before.Token.RefreshToken || after.Token.AccessToken == before.Token.AccessToken {
		t.Errorf("refresh did not rotate: the stored refresh or access token is unchanged")
	}
	if after.Registration == nil || before.Registration == nil || after.Registration.ClientID != before.Registration.ClientID {
		t.Errorf("registration changed across refresh")
	}
	if n := e.mcp.distinctTokens(); n != 2 {
		t.Errorf("MCP server saw %d distinct access tokens, want 2 (original and refreshed)", n)
	}
	s.Close()

	// 3. A second process: a new client over the same store directory reuses
	// the stored registration and token: no request reaches the provider.
	noBrowser := func(context.Context, string) error {
		t.Error("the second client opened the browser")
		return errors.New("no browser in the second process")
	}
	var clk2 clock
	clk2.advance(time.Hour) // the same hour later as the refreshed token
	s2 := connect(t, clk2.config(e.config(t, noBrowser)))
	if got := whoami(t, s2); !strings.HasPrefix(got, "subject=alice ") {
		t.Fatalf("second process: whoami = %q", got)
	}
	ev = e.eventsSince(t, &seen)
	t.Logf("second process: provider events %v", counts(ev))
	if got := e.requests.Take(); len(got) != 0 {
		t.Errorf("second client: requests %v, want none", got)
	}
	if len(ev) != 0 {
		t.Errorf("second process: provider events %v, want none (no registration, no authorization, no token request)", counts(ev))
	}
	if n := e.mcp.distinctTokens(); n != 2 {
		t.Errorf("second process used a new access token (%d distinct), want the stored one", n)
	}

	// 3b. A real second process: the mcpauth binary with the same config
	// directory calls the tool on the stored registration and token.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"call", e.mcp.url, "whoami", "--config-dir", e.storeDir, "--no-browser"}
	if useCIMD {
		args = append(args, "--client-metadata-url", cimdURL) // the same application
	}
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	e.output.Write(out)
	if err != nil || !strings.Contains(string(out), "subject=alice ") {
		t.Errorf("mcpauth call whoami: %v\n%s", err, out)
	}
	ev = e.eventsSince(t, &seen)
	t.Logf("mcpauth call (second process): provider events %v", counts(ev))
	if len(ev) != 0 {
		t.Errorf("mcpauth call: provider events %v, want none", counts(ev))
	}

	// 4. The rotated-out refresh token is dead at the provider (rotation is
	// real, not just a new string): replaying it is invalid_grant.
	if code := replayRefresh(t, e, before); code != "invalid_grant" {
		t.Errorf("replaying the old refresh token: error %q, want invalid_grant", code)
	}

	// 5. The replay made the provider revoke the whole grant (reuse
	// detection): the stored refresh token is dead too. When the access token
	// expires, the client's refresh fails with invalid_grant and it asks the
	// user again (the provider's session cookie spares the login), with the
	// same registration.
	e.eventsSince(t, &seen)
	var clk3 clock
	clk3.advance(2 * time.Hour)
	browser3 := newFormBrowser("alice")
	browser3.client.Jar = browser.client.Jar
	s3 := connect(t, clk3.config(e.config(t, browser3.Open)))
	if got := whoami(t, s3); !strings.HasPrefix(got, "subject=alice ") {
		t.Fatalf("after revocation: whoami = %q", got)
	}
	ev = e.eventsSince(t, &seen)
	c = counts(ev)
	t.Logf("after the grant was revoked: provider events %v", c)
	for _, x := range ev {
		if x.Event == "token_error" && (x.GrantType != "refresh_token" || x.Error != "invalid_grant") {
			t.Errorf("after revocation: token error %s for %s, want invalid_grant for the refresh", x.Error, x.GrantType)
		}
	}
	if c["token_error"] != 1 || c["authorization"] != 1 || c["token:authorization_code"] != 1 || c["registration"] != 0 {
		t.Errorf("after revocation: provider events %v, want one failed refresh, one new authorization, no registration", c)
	}
	if opened, _ := browser3.submitted(); opened != 1 {
		t.Errorf("after revocation: browser opened %d times, want once", opened)
	}

	// 6. Nothing the clients printed or logged, at debug level, holds a
	// token or an authorization code.
	last := e.storedEntry(t)
	secrets := map[string]string{
		"first access token": before.Token.AccessToken, "first refresh token": before.Token.RefreshToken,
		"refreshed access token": after.Token.AccessToken, "refreshed refresh token": after.Token.RefreshToken,
		"last access token": last.Token.AccessToken, "last refresh token": last.Token.RefreshToken,
	}
	for i, code := range append(browser.codes, browser3.codes...) {
		secrets[fmt.Sprint("authorization code ", i)] = code
	}
	if len(secrets) != 8 {
		t.Errorf("the browsers saw %d authorization codes, want 2", len(secrets)-6)
	}
	printed := e.output.String()
	for what, secret := range secrets {
		if secret != "" && strings.Contains(printed, secret) {
			t.Errorf("the client printed or logged the %s", what)
		}
	}
	if !strings.Contains(printed, "level=DEBUG") {
		t.Errorf("no debug record was logged; the check above saw nothing")
	}
}

// replayRefresh sends a refresh request with the entry's refresh token and
// returns the error code of the answer ("" on success).
func replayRefresh(t *testing.T, e *env, entry *client.Entry) string {
	t.Helper()
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {entry.Token.RefreshToken},
		"client_id":     {entry.Registration.ClientID},
		"resource":      {e.mcp.url},
	}
	resp, err := http.PostForm(e.provider.issuer+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Error
}

// TestUserDenied: the user cancels at the provider's login page. Connect
// fails with the typed error after one prompt (go-sdk's handler asks twice),
// and no token is requested.
func TestUserDenied(t *testing.T) {
	e := newEnv(t, false)
	browser := newFormBrowser("alice")
	browser.deny = true
	c, err := client.New(e.config(t, browser.Open))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := c.Connect(ctx, nil)
	if err == nil {
		s.Close()
		t.Fatal("Connect succeeded although the user cancelled")
	}
	var denied *client.UserDeniedError
	if !errors.As(err, &denied) {
		t.Errorf("Connect error %v (%T), want *client.UserDeniedError", err, err)
	}
	if opened, prompts := browser.submitted(); opened != 1 || strings.Join(prompts, ",") != "cancel" {
		t.Errorf("browser opened %d times (%v), want once", opened, prompts)
	}
	var seen int
	c2 := counts(e.eventsSince(t, &seen))
	if c2["authorization_request"] != 1 || c2["token:authorization_code"] != 0 {
		t.Errorf("provider events %v, want 1 authorization request and no token request", c2)
	}
}

// sameSet reports whether two space-separated lists hold the same words.
func sameSet(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return *s
}
