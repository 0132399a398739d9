package authserver

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// TestRefreshTokenKeysFollowIssueTime: a refresh token carries its issue time, and its store key
// starts with it, so keys of later tokens sort after earlier ones; the key of the token is
// what refreshTokenKey finds again from the token.
func TestRefreshTokenKeysFollowIssueTime(t *testing.T) {
	s := &Server{secrets: newSecretHasher(make([]byte, keySize))}
	t0 := time.UnixMilli(1_790_000_000_123)
	var prev string
	for i, at := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(time.Hour), t0.Add(24 * 365 * time.Hour)} {
		tok, key := s.newRefreshToken(at)
		if len(tok) != refreshTokenLen || !strings.HasPrefix(tok, refreshPrefix) {
			t.Fatalf("token %q: want %s and %d characters", tok, refreshPrefix, refreshTokenLen)
		}
		if got := s.refreshTokenKey(tok); got != key {
			t.Fatalf("key found from the token %q, want %q", got, key)
		}
		if issued, _ := refreshTokenIssued(tok); issued != key[:refreshTimeDigits] {
			t.Fatalf("key %q does not start with the token's time %q", key, issued)
		}
		if i > 0 && key <= prev {
			t.Fatalf("key of a later token %q sorts before an earlier one %q", key, prev)
		}
		prev = key
	}
	if tok, _ := s.newRefreshToken(t0); tok[len(refreshPrefix):len(refreshPrefix)+refreshTimeDigits] != "01a0c4506c7b" {
		t.Fatalf("time of a token issued at %d ms: %q", t0.UnixMilli(), tok)
	}
}

// TestRefreshTokenFormats: a token stored before the time was part of refresh tokens (its key
// is its hash alone) is still rotated, introspected and revoked; a current token whose time was
// altered is unknown.
func TestRefreshTokenFormats(t *testing.T) {
	st := openStore(t)
	s, err := New(t.Context(), Config{
		Issuer: "https://as.example.com", Store: st, KeyEncryptionKey: make([]byte, keySize),
		Resources: []Resource{{URI: "https://mcp.example.com", Scopes: []string{"read"}}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()
	ctx, now := t.Context(), time.Now().UTC()
	meta, _ := json.Marshal(&ClientMetadata{RedirectURIs: []string{"https://a.example/cb"}, TokenEndpointAuthMethod: AuthMethodNone,
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateClient(ctx, &store.Client{ID: "c", Kind: store.ClientDynamic, Metadata: meta, CreatedAt: now}))
	rsMeta, _ := json.Marshal(&ClientMetadata{TokenEndpointAuthMethod: AuthMethodClientSecretBasic, GrantTypes: []string{GrantClientCredentials}})
	must(st.CreateClient(ctx, &store.Client{ID: "rs", Kind: store.ClientStatic, SecretHash: s.secrets.hash(kindClientSecret, "rs-secret"),
		Metadata: rsMeta, CreatedAt: now}))
	must(st.CreateUser(ctx, &store.User{ID: "u", Username: "u", PasswordHash: "x", Scopes: []string{"read"}, CreatedAt: now}))
	g := &store.Grant{ID: "g", ClientID: "c", Subject: "u", Scopes: []string{"read"}, Resources: []string{"https://mcp.example.com"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(st.CreateAuthCode(ctx, g, &store.AuthCode{Hash: "code", GrantID: "g", ClientID: "c", Subject: "u", CreatedAt: now, ExpiresAt: now}))
	legacy := "mrf_" + randomToken(32) // the format before: 43 random characters
	must(st.CreateRefreshToken(ctx, &store.RefreshToken{Hash: s.secrets.hash(kindRefresh, legacy), GrantID: "g", ClientID: "c",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	// post sends form as client c, or, to /introspect, as the resource server rs.
	post := func(path string, form url.Values) (int, map[string]any) {
		t.Helper()
		if path != "/introspect" {
			form.Set("client_id", "c")
		}
		req, _ := http.NewRequest(http.MethodPost, hs.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if path == "/introspect" {
			req.SetBasicAuth("rs", "rs-secret")
		}
		resp, err := http.DefaultClient.Do(req)
		must(err)
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := post("/introspect", url.Values{"token": {legacy}}); status != http.StatusOK || body["active"] != true {
		t.Fatalf("introspection of a token in the former format: %d %v", status, body)
	}
	status, body := post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {legacy}})
	if status != http.StatusOK {
		t.Fatalf("refresh with a token in the former format: %d %v", status, body)
	}
	next := body["refresh_token"].(string)
	if _, ok := refreshTokenIssued(next); !ok {
		t.Fatalf("the token that replaced it, %q, is not in the current format", next)
	}

	// The time is covered by the hash: a token with another time is unknown, and spends nothing.
	altered := next[:len(refreshPrefix)] + strings.Repeat("f", refreshTimeDigits) + next[len(refreshPrefix)+refreshTimeDigits:]
	status, body = post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {altered}})
	if status != http.StatusBadRequest || body["error"] != errInvalidGrant {
		t.Fatalf("refresh with an altered time: %d %v, want invalid_grant", status, body)
	}
	if status, body := post("/introspect", url.Values{"token": {next}}); status != http.StatusOK || body["active"] != true {
		t.Fatalf("introspection of the current token: %d %v", status, body)
	}
	if status, body := post("/revoke", url.Values{"token": {next}}); status != http.StatusOK {
		t.Fatalf("revocation of the current token: %d %v", status, body)
	}
	if got, err := st.GetGrant(ctx, "g"); err != nil || got.RevokedAt.IsZero() {
		t.Fatalf("grant after revoking its current refresh token: %+v, %v; want revoked", got, err)
	}
}

// FuzzRefreshTokenKey: any presented string gets a key: the hash alone, or, for a token in the
// current format, its time digits then the hash.
func FuzzRefreshTokenKey(f *testing.F) {
	s := &Server{secrets: newSecretHasher(make([]byte, keySize))}
	tok, _ := s.newRefreshToken(time.Now())
	for _, seed := range []string{tok, "mrf_" + randomToken(32), "", "mrf_", tok[:len(tok)-1], strings.ToUpper(tok), tok + "x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		key := s.refreshTokenKey(token)
		hash := s.secrets.hash(kindRefresh, token)
		issued, ok := refreshTokenIssued(token)
		if ok != (len(token) == refreshTokenLen && token[:len(refreshPrefix)] == refreshPrefix &&
			strings.Trim(token[len(refreshPrefix):len(refreshPrefix)+refreshTimeDigits], "0123456789abcdef") == "") {
			t.Fatalf("token %q: in the current format %v", token, ok)
		}
		if key != issued+hash {
			t.Fatalf("token %q: key %q, want %q", token, key, issued+hash)
		}
	})
}
