package authserver

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// TestJanitorDeletesSpentAssertions: the store keeps an accepted assertion's jti until the
// assertion would be refused as expired (exp plus the leeway), so a janitor round before then
// keeps it and the replay is refused; the round after deletes it.
func TestJanitorDeletesSpentAssertions(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "as.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	var at atomic.Int64 // the clock, read by the janitor's goroutine too
	at.Store(now.UnixMilli())
	clock := func() time.Time { return time.UnixMilli(at.Load()) }
	const issuer = "https://as.example.com"
	s, err := New(t.Context(), Config{
		Issuer: issuer, Store: st, KeyEncryptionKey: make([]byte, keySize), Resources: []Resource{{URI: "https://mcp.example.com"}},
		Now: clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: "k1", Use: "sig"}}})
	info, _, err := s.Admin().AddClient(t.Context(), StaticClient{Name: "backend", JWKS: jwks, GrantTypes: []string{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.lookupClient(t.Context(), info.ID)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := now.Add(time.Minute)
	assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: info.ID, Subject: info.ID, Audience: jwt.Audience{issuer},
		Expiry: jwt.NewNumericDate(exp), ID: "once"}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	use := func() *oauthError {
		return s.verifyClientAssertion(httptest.NewRequest(http.MethodPost, issuer+pathToken, nil), c, assertion)
	}
	if e := use(); e != nil {
		t.Fatalf("first use: %+v", e)
	}

	at.Store(exp.Add(assertionLeeway - time.Second).UnixMilli()) // the last second the assertion is acceptable
	s.sweep(t.Context())
	if e := use(); e == nil || e.Code != errInvalidClient {
		t.Fatalf("replay after a janitor round within the assertion's lifetime: %+v", e)
	}
	at.Store(exp.Add(assertionLeeway).UnixMilli())
	if e := use(); e == nil || e.Code != errInvalidClient {
		t.Fatalf("use once expired: %+v", e)
	}
	s.sweep(t.Context())
	if n, err := st.DeleteExpiredClientAssertions(t.Context(), exp.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("records left after the janitor's round: %d, %v", n, err)
	}
}
