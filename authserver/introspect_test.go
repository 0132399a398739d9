package authserver_test

import (
	"net/url"
	"testing"

	"github.com/mcpauth/mcpauth/authserver"
)

// rsCreds are the credentials of a resource server registered for introspection.
type rsCreds struct{ id, secret string }

func resourceServer(t *testing.T, as *testAS) rsCreds {
	t.Helper()
	c, secret, err := as.Admin().AddClient(t.Context(), authserver.StaticClient{Name: "mcp server", Confidential: true, GrantTypes: []string{"client_credentials"}})
	if err != nil {
		t.Fatal(err)
	}
	return rsCreds{c.ID, secret}
}

func introspect(t *testing.T, as *testAS, rs rsCreds, tok string) map[string]any {
	t.Helper()
	status, body := postForm(t, as.URL+"/introspect", url.Values{"token": {tok}}, rs.id, rs.secret)
	if status != 200 {
		t.Fatalf("introspect: %d %v", status, body)
	}
	return body
}

func TestIntrospectionAndRevocation(t *testing.T) {
	as := devAS(t, nil)
	id := publicClient(t, as)
	rs := resourceServer(t, as)
	tok := tokens(t, as, id)
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)

	got := introspect(t, as, rs, at)
	if got["active"] != true || got["client_id"] != id || got["scope"] != "weather:read" || got["username"] != "dev" || got["token_type"] != "Bearer" {
		t.Fatalf("introspection of a live access token: %v", got)
	}
	if got := introspect(t, as, rs, rt); got["active"] != true || got["token_type"] != "refresh_token" {
		t.Fatalf("introspection of a live refresh token: %v", got)
	}
	if got := introspect(t, as, rs, "garbage"); len(got) != 1 || got["active"] != false {
		t.Fatalf("introspection of garbage: %v", got)
	}

	// Only authenticated resource servers may introspect.
	status, body := postForm(t, as.URL+"/introspect", url.Values{"token": {at}, "client_id": {id}})
	if status != 403 || body["active"] != nil {
		t.Fatalf("introspection by a public client: %d %v", status, body)
	}
	status, _ = postForm(t, as.URL+"/introspect", url.Values{"token": {at}}, rs.id, "wrong")
	if status != 401 {
		t.Fatalf("introspection with a wrong secret: %d", status)
	}

	// Revoking the access token: inactive, the refresh token still works.
	if status, body := postForm(t, as.URL+"/revoke", url.Values{"token": {at}, "client_id": {id}}); status != 200 {
		t.Fatalf("revoke access token: %d %v", status, body)
	}
	if got := introspect(t, as, rs, at); got["active"] != false {
		t.Fatalf("revoked access token: %v", got)
	}
	status, next := tokenRequest(t, as, refreshForm(id, rt))
	if status != 200 {
		t.Fatalf("refresh after revoking an access token: %d %v", status, next)
	}
	// Revoking the refresh token revokes the grant: its access tokens too.
	rt2, at2 := next["refresh_token"].(string), next["access_token"].(string)
	if status, body := postForm(t, as.URL+"/revoke", url.Values{"token": {rt2}, "token_type_hint": {"refresh_token"}, "client_id": {id}}); status != 200 {
		t.Fatalf("revoke refresh token: %d %v", status, body)
	}
	if got := introspect(t, as, rs, at2); got["active"] != false {
		t.Fatalf("access token of a revoked grant: %v", got)
	}
	status, body = tokenRequest(t, as, refreshForm(id, rt2))
	wantOAuthError(t, "revoked refresh token", status, body, 400, "invalid_grant")
	// Unknown tokens: 200, nothing to do (RFC 7009 §2.2).
	if status, _ := postForm(t, as.URL+"/revoke", url.Values{"token": {"unknown"}, "client_id": {id}}); status != 200 {
		t.Fatalf("revoke unknown token: %d", status)
	}
}

func TestRevokeOtherClientsTokenRefused(t *testing.T) {
	as := devAS(t, nil)
	id, other := publicClient(t, as), publicClient(t, as)
	tok := tokens(t, as, id)
	status, _ := postForm(t, as.URL+"/revoke", url.Values{"token": {tok["refresh_token"].(string)}, "client_id": {other}})
	if status != 400 {
		t.Fatalf("revocation by another client: %d", status)
	}
	if status, _ := tokenRequest(t, as, refreshForm(id, tok["refresh_token"].(string))); status != 200 {
		t.Fatal("another client's revocation attempt must not revoke the token")
	}
}
