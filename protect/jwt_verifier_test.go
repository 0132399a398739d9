package protect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func TestJWKSRotationRefetchesAtBoundedRate(t *testing.T) {
	as := newTestAS(t)
	resource := "https://mcp.example/mcp"
	now := time.Unix(1_900_000_000, 0)
	v, err := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: resource, RefreshInterval: time.Minute,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	claims := as.claims(resource, "echo:use")
	claims["iat"], claims["exp"] = now.Unix(), now.Add(time.Hour).Unix()
	ctx := context.Background()
	if _, err := v.Verify(ctx, as.mint(t, claims)); err != nil {
		t.Fatal(err)
	}
	if as.jwksHits.Load() != 1 {
		t.Fatalf("JWKS fetched %d times", as.jwksHits.Load())
	}
	// Unknown kids: one refetch per interval, however many tokens arrive.
	now = now.Add(61 * time.Second)
	stranger := newKey(t)
	for i := 0; i < 20; i++ {
		_, err := v.Verify(ctx, sign(t, stranger, "unknown", jose.ES256, "at+jwt", claims))
		var te *TokenError
		if !errors.As(err, &te) || te.Reason != ReasonSignature {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if as.jwksHits.Load() != 2 {
		t.Errorf("JWKS fetched %d times after a flood of unknown kids, want 2", as.jwksHits.Load())
	}
	// The AS rotates: the new key is published next to the old one, and a
	// token signed with it is accepted once the interval has passed.
	newKey2 := newKey(t)
	as.publish(jose.JSONWebKey{Key: &as.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"},
		jose.JSONWebKey{Key: &newKey2.PublicKey, KeyID: "k2", Algorithm: "ES256", Use: "sig"})
	now = now.Add(61 * time.Second)
	ti, err := v.Verify(ctx, sign(t, newKey2, "k2", jose.ES256, "at+jwt", claims))
	if err != nil || ti.Subject != "alice" {
		t.Fatalf("token with rotated key: %v", err)
	}
	if _, err := v.Verify(ctx, as.mint(t, claims)); err != nil {
		t.Errorf("token with the old key still published: %v", err)
	}
}

func TestJWTVerifierRefusesIssuerMismatchInMetadata(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"issuer":"https://evil.example","jwks_uri":"https://evil.example/jwks"}`))
	})
	v, _ := NewJWTVerifier(JWTVerifierConfig{Issuer: srv.URL, Resource: "https://mcp.example/mcp"})
	as := newTestAS(t)
	_, err := v.Verify(context.Background(), as.mint(t, as.claims("https://mcp.example/mcp", "")))
	if !errors.Is(err, ErrVerifierUnavailable) {
		t.Errorf("err %v, want ErrVerifierUnavailable", err)
	}
}

func TestMetadataURLsForIssuerWithPath(t *testing.T) {
	got, err := metadataURLs("https://as.example/tenant1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"https://as.example/.well-known/oauth-authorization-server/tenant1",
		"https://as.example/.well-known/openid-configuration/tenant1",
		"https://as.example/tenant1/.well-known/openid-configuration"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("url %d = %s, want %s", i, got[i], want[i])
		}
	}
}

func TestKnownKeysDoNotWaitForAJWKSFetch(t *testing.T) {
	as := newTestAS(t)
	resource := "https://mcp.example/mcp"
	var now atomic.Int64
	now.Store(time.Now().Unix())
	v, _ := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: resource, JWKSURL: as.issuer + "/slow-jwks",
		Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	entered, release := make(chan struct{}), make(chan struct{})
	var calls int
	as.mux.HandleFunc("/slow-jwks", func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 2 { // the refetch for an unknown kid hangs until released
			close(entered)
			<-release
		}
		_ = json.NewEncoder(w).Encode(as.published.Load())
	})
	ctx := context.Background()
	good := as.mint(t, as.claims(resource, ""))
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	now.Add(61) // past RefreshInterval: an unknown kid triggers a refetch
	done := make(chan error)
	go func() {
		_, err := v.Verify(ctx, sign(t, newKey(t), "unknown", jose.ES256, "at+jwt", as.claims(resource, "")))
		done <- err
	}()
	<-entered
	if _, err := v.Verify(ctx, good); err != nil { // would deadlock if it waited for the fetch
		t.Errorf("known key during a fetch: %v", err)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("unknown kid accepted")
	}
}

func TestUnreachableASFailsFast(t *testing.T) {
	as := newTestAS(t)
	v, _ := NewJWTVerifier(JWTVerifierConfig{Issuer: as.issuer, Resource: "https://mcp.example/mcp"})
	token := as.mint(t, as.claims("https://mcp.example/mcp", ""))
	as.srv.Close()
	for range 3 {
		if _, err := v.Verify(context.Background(), token); !errors.Is(err, ErrVerifierUnavailable) {
			t.Fatalf("err %v, want ErrVerifierUnavailable", err)
		}
	}
}
