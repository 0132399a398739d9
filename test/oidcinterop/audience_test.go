package oidcinterop

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpauth/mcpauth/client"
)

// TestAudienceBinding: one provider in front of two MCP servers (two
// resources). The token the client got for server A is refused by server B,
// because its aud is A (RFC 8707; MCP authorization, "Token Audience Binding
// and Validation": the confused-deputy defence); connecting to B, the client
// obtains a token for B with resource B, over the same store.
func TestAudienceBinding(t *testing.T) {
	a, b := listenMCP(t), listenMCP(t)
	p := startProvider(t, []string{a.url, b.url}, nil)
	a.serve(t, p.issuer)
	b.serve(t, p.issuer)
	store := client.NewMemoryStore()
	browser := newFormBrowser("alice")
	config := func(serverURL string) client.Config {
		return client.Config{ServerURL: serverURL, ClientName: "mcpauth audience", Store: store, OpenBrowser: browser.Open, Stderr: io.Discard}
	}
	e := &env{provider: p}
	var seen int

	whoami(t, connect(t, config(a.url)))
	tokenA := storedEntry(t, store, a.url).Token.AccessToken
	e.eventsSince(t, &seen)

	// A's token presented to B.
	req, err := http.NewRequest(http.MethodPost, b.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"replay","version":"1"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokenA)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("server B answered A's token with %d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// The client, connecting to B, asks for a token for B.
	if got := whoami(t, connect(t, config(b.url))); !strings.HasPrefix(got, "subject=alice ") {
		t.Errorf("whoami on B = %q", got)
	}
	if storedEntry(t, store, b.url).Token.AccessToken == tokenA {
		t.Error("the client sent server A's token to server B")
	}
	for _, x := range e.eventsSince(t, &seen) {
		if (x.Event == "authorization_request" || x.Event == "token") && deref(x.Resource) != b.url {
			t.Errorf("%s %s for server B: resource %q, want %s", x.Event, x.GrantType, deref(x.Resource), b.url)
		}
	}
	if a.distinctTokens() != 1 || b.distinctTokens() != 1 {
		t.Errorf("tokens accepted: A %d, B %d; want one each", a.distinctTokens(), b.distinctTokens())
	}
}
