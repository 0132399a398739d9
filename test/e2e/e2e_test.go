// Package e2e runs mcpauth's client library against mcpauth's own
// authorization server and protected example MCP server (`mcpauth serve` as
// a separate process), counting every OAuth request the client sends and
// every grant the server records.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
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
	"github.com/mcpauth/mcpauth/test/servetest"
)

// oauthRequests counts the client's requests other than to the MCP endpoint
// (discovery, registration, token).
func oauthRequests() *httpcount.Transport {
	return &httpcount.Transport{Skip: func(r *http.Request) bool { return r.URL.Path == "/mcp" }}
}

// clock is Config.Now: real time plus an offset the test moves forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// devLoginBrowser follows the authorization URL: with --dev-login the
// server approves at once and redirects to the client's loopback callback.
func devLoginBrowser(ctx context.Context, authURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("callback answered %d", resp.StatusCode)
	}
	return nil
}

func call(ctx context.Context, s *mcp.ClientSession, tool string, args map[string]any) error {
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return err
	}
	if res.IsError {
		var text []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text = append(text, tc.Text)
			}
		}
		return fmt.Errorf("%s reported an error: %s", tool, strings.Join(text, "; "))
	}
	return nil
}

// connect connects our client with cfg; the session is closed when the test ends.
func connect(ctx context.Context, t *testing.T, cfg client.Config) *mcp.ClientSession {
	t.Helper()
	s, err := client.Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCall calls tool and fails the test on any error.
func mustCall(ctx context.Context, t *testing.T, s *mcp.ClientSession, tool string, args map[string]any) {
	t.Helper()
	if err := call(ctx, s, tool, args); err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
}

// grantScopes returns the scope of each code.issued audit record.
func grantScopes(recs []map[string]any) []string {
	var out []string
	for _, r := range recs {
		if r["audit"] == "code.issued" {
			s, _ := r["scope"].(string)
			out = append(out, s)
		}
	}
	return out
}

func sameWords(a, b string) bool {
	x, y := strings.Fields(a), strings.Fields(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// TestAgainstServe runs our client against mcpauth serve (one build of the
// binary): the authorization code flow with the server on SQLite and on
// PostgreSQL, and client_credentials backends.
func TestAgainstServe(t *testing.T) {
	bin := testenv.BuildBinary(t, "./cmd/mcpauth")
	flags := []string{"--dev-login", "alice", "--initial-scopes", "weather:read"}
	t.Run("SQLite", func(t *testing.T) { testClientAgainstServe(t, servetest.Start(t, bin, flags...)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		testClientAgainstServe(t, servetest.Start(t, bin, append(flags, "--postgres", testenv.PostgresDSN(t))...))
	})
	t.Run("ClientCredentials", func(t *testing.T) { testClientCredentials(t, bin) })
}

// testClientAgainstServe: first connect with exactly the needed OAuth
// requests; step-up to the union of scopes on 403 insufficient_scope; one
// refresh for eight concurrent calls after expiry; a second client over the
// same file store makes no OAuth request at all.
func testClientAgainstServe(t *testing.T, srv *servetest.Server) {
	storeDir := t.TempDir()
	reqs := oauthRequests()
	var clk clock
	cfg := client.Config{
		ServerURL:   srv.MCPURL,
		ClientName:  "mcpauth e2e",
		Store:       client.NewFileStore(storeDir),
		HTTPClient:  &http.Client{Transport: reqs},
		OpenBrowser: devLoginBrowser,
		Stderr:      io.Discard,
		Now:         clk.now,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := connect(ctx, t, cfg)
	mustCall(ctx, t, s, "weather_forecast", map[string]any{"city": "Oslo"})
	// 1. First connect: each discovery document once, one registration, one code exchange.
	want := map[string]int{
		"GET /.well-known/oauth-protected-resource/mcp": 1,
		"GET /.well-known/oauth-authorization-server":   1,
		"POST /register": 1,
		"POST /token":    1,
	}
	got := reqs.Take()
	t.Logf("first connect: OAuth requests %v", got)
	if !maps.Equal(got, want) {
		t.Errorf("first connect: OAuth requests %v, want %v", got, want)
	}
	srv.Sync(t)
	audit := srv.Audit()
	if n := servetest.AuditCounts(audit); n["client.registered"] != 1 || n["code.issued"] != 1 || n["token.issued"] != 1 {
		t.Errorf("first connect: audit %v, want 1 registration, 1 code, 1 token", n)
	}
	first := grantScopes(audit)

	// 2. stock_quotes needs stocks:read: 403 insufficient_scope, one new
	// authorization for the union of the scopes, no new discovery or registration.
	if err := call(ctx, s, "stock_quotes", map[string]any{"symbols": []string{"ACME"}}); err != nil {
		t.Fatalf("stock_quotes after step-up: %v", err)
	}
	if got, want := reqs.Take(), map[string]int{"POST /token": 1}; !maps.Equal(got, want) {
		t.Errorf("step-up: OAuth requests %v, want %v", got, want)
	}
	srv.Sync(t)
	audit = srv.Audit()
	scopes := grantScopes(audit)
	if len(first) != 1 || len(scopes) != 2 {
		t.Fatalf("authorizations %v, want the first and one step-up", scopes)
	}
	if union := first[0] + " stocks:read"; !sameWords(scopes[1], union) {
		t.Errorf("step-up authorization scope %q, want the union %q", scopes[1], union)
	}
	t.Logf("authorizations: %q", scopes)
	seen := len(audit)

	// 3. The access token expires: eight concurrent calls, one refresh.
	clk.advance(2 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	cities := []string{"Oslo", "Paris", "Lima", "Tokyo"}
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- call(ctx, s, "weather_forecast", map[string]any{"city": cities[i%len(cities)]})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("call after expiry: %v", err)
		}
	}
	if got, want := reqs.Take(), map[string]int{"POST /token": 1}; !maps.Equal(got, want) {
		t.Errorf("after expiry: OAuth requests %v, want one refresh %v", got, want)
	}
	srv.Sync(t)
	audit = srv.Audit()
	if n := servetest.AuditCounts(audit[seen:]); n["token.issued"] != 1 || n["code.issued"] != 0 || n["refresh.reuse"] != 0 {
		t.Errorf("after expiry: audit %v, want exactly one token issued by refresh", n)
	}
	seen = len(audit)
	s.Close()

	// 4. A second process: a new client over the same store makes no OAuth request.
	var clk2 clock
	clk2.advance(2 * time.Hour)
	cfg2 := cfg
	cfg2.Store = client.NewFileStore(storeDir)
	cfg2.Now = clk2.now
	cfg2.OpenBrowser = func(context.Context, string) error {
		t.Error("the second client opened the browser")
		return errors.New("no browser")
	}
	s2 := connect(ctx, t, cfg2)
	mustCall(ctx, t, s2, "stock_quotes", map[string]any{"symbols": []string{"ACME"}})
	if got := reqs.Take(); len(got) != 0 {
		t.Errorf("second process: OAuth requests %v, want none", got)
	}
	srv.Sync(t)
	if n := servetest.AuditCounts(srv.Audit()[seen:]); n["client.registered"]+n["code.issued"]+n["token.issued"] != 0 {
		t.Errorf("second process: audit %v, want no registration, authorization or token", n)
	}
}
