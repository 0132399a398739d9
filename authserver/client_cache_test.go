package authserver_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver"
	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// countingClients is a real SQLite store that counts client reads (a spy on the real store: it
// changes nothing).
type countingClients struct {
	store.Store
	gets atomic.Int32
}

func (c *countingClients) GetClient(ctx context.Context, id string) (*store.Client, error) {
	c.gets.Add(1)
	return c.Store.GetClient(ctx, id)
}

// ccClient pre-registers a client_credentials client and returns its ID and secret.
func ccClient(t *testing.T, as *testAS) (string, string) {
	t.Helper()
	info, secret, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{
		Name: "backend", Confidential: true, GrantTypes: []string{"client_credentials"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return info.ID, secret
}

// ccToken asks for a client_credentials token and returns the status and the access token.
func ccToken(t *testing.T, as *testAS, id, secret string) (int, string) {
	t.Helper()
	status, body := tokenRequest(t, as, url.Values{"grant_type": {"client_credentials"}, "resource": {resourceA}}, id, secret)
	tok, _ := body["access_token"].(string)
	return status, tok
}

// TestClientCredentialsWritesNothing: a client_credentials token costs no grant or token record
// and, once the client is cached, no store read; it is still active at introspection.
func TestClientCredentialsWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spy := &countingClients{Store: st}
	as := newTestASOn(t, spy, testKey(), nil)
	id, secret := ccClient(t, as)
	var tok string
	for range 20 {
		var status int
		if status, tok = ccToken(t, as, id, secret); status != http.StatusOK {
			t.Fatalf("client_credentials: %d", status)
		}
	}
	if n := spy.gets.Load(); n != 1 {
		t.Fatalf("20 token requests read the client %d times, want once (then cached)", n)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"grants", "refresh_tokens", "revoked_access_tokens"} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%s after client_credentials: %d rows, %v; want none", table, n, err)
		}
	}
	rs := resourceServer(t, as)
	if got := introspect(t, as, rs, tok); got["active"] != true || got["client_id"] != id || got["sub"] != id {
		t.Fatalf("introspection of a client_credentials token: %v", got)
	}
}

// TestClientCredentialsRevocation: without a token record, a client_credentials token is
// still revoked by /revoke (RFC 7009) alone, and every token of a client ends when the client
// is removed: at introspection and at the token endpoint, at once on this instance.
func TestClientCredentialsRevocation(t *testing.T) {
	as := newTestAS(t, nil)
	id, secret := ccClient(t, as)
	rs := resourceServer(t, as)
	_, revoked := ccToken(t, as, id, secret)
	_, kept := ccToken(t, as, id, secret)
	if status, body := postForm(t, as.URL+"/revoke", url.Values{"token": {revoked}}, id, secret); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, body)
	}
	if got := introspect(t, as, rs, revoked); got["active"] != false {
		t.Fatalf("revoked client_credentials token: %v", got)
	}
	if got := introspect(t, as, rs, kept); got["active"] != true {
		t.Fatalf("another token of the client after one was revoked: %v", got)
	}
	if err := as.Admin().RemoveClient(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if got := introspect(t, as, rs, kept); got["active"] != false {
		t.Fatalf("token of a removed client: %v", got)
	}
	status, body := tokenRequest(t, as, url.Values{"grant_type": {"client_credentials"}}, id, secret)
	wantOAuthError(t, "removed client", status, body, http.StatusUnauthorized, "invalid_client")
}

// TestClientDeletedThroughRegistrationManagement: a client deleted through RFC 7592 on this
// instance is refused at once at the token endpoint, although the endpoint had cached it.
func TestClientDeletedThroughRegistrationManagement(t *testing.T) {
	as := devAS(t, nil)
	reg := register(t, as, map[string]any{
		"client_name": "Test Client", "redirect_uris": []string{loopback},
		"grant_types": []string{"authorization_code", "refresh_token"}, "token_endpoint_auth_method": "none",
	})
	id := reg["client_id"].(string)
	rt := tokens(t, as, id)["refresh_token"].(string) // the code exchange caches the client
	req, err := http.NewRequestWithContext(t.Context(), http.MethodDelete, reg["registration_client_uri"].(string), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+reg["registration_access_token"].(string))
	if resp, body := do(t, http.DefaultClient, req); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete client: %d %s", resp.StatusCode, body)
	}
	status, body := tokenRequest(t, as, refreshForm(id, rt))
	wantOAuthError(t, "refresh by a deleted client", status, body, http.StatusUnauthorized, "invalid_client")
}

// TestClientCacheBoundAcrossInstances: a client removed through another instance sharing the
// store is refused here within the documented bound (5 s) — and, as documented, still served
// from this instance's cache before it.
func TestClientCacheBoundAcrossInstances(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	clk := newClock()
	key := testKey()
	open := func() *testAS {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return newTestASOn(t, st, key, func(c *authserver.Config) { c.Now = clk.now })
	}
	a, b := open(), open()
	id, secret := ccClient(t, a)
	if status, _ := ccToken(t, b, id, secret); status != http.StatusOK {
		t.Fatalf("token at B: %d", status)
	}
	if err := a.Admin().RemoveClient(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	clk.advance(4 * time.Second)
	if status, _ := ccToken(t, b, id, secret); status != http.StatusOK {
		t.Fatalf("token at B within the cache bound: %d; want 200 (served from B's cache)", status)
	}
	clk.advance(2 * time.Second)
	if status, _ := ccToken(t, b, id, secret); status != http.StatusUnauthorized {
		t.Fatalf("token at B past the cache bound: %d; want 401", status)
	}
}
