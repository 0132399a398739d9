package protect

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// introspectionAS answers RFC 7662 requests from a table of opaque tokens,
// after checking the resource server's client credentials.
func introspectionAS(t *testing.T, tokens map[string]map[string]any, hits *atomic.Int64) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "introspection_endpoint": srv.URL + "/introspect"})
	})
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if id, secret, ok := r.BasicAuth(); !ok || id != "rs" || secret != "rs-secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		resp, ok := tokens[r.PostFormValue("token")]
		if !ok || r.PostFormValue("token_type_hint") != "access_token" {
			resp = map[string]any{"active": false}
		}
		_ = json.NewEncoder(w).Encode(resp)
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestIntrospectionVerifier(t *testing.T) {
	const resource = "https://mcp.example/mcp"
	now := time.Unix(1_900_000_000, 0)
	var hits atomic.Int64
	tokens := map[string]map[string]any{}
	srv := introspectionAS(t, tokens, &hits)
	active := func(exp time.Time, aud any) map[string]any {
		return map[string]any{"active": true, "iss": srv.URL, "sub": "alice", "client_id": "c1", "scope": "echo:use",
			"aud": aud, "exp": exp.Unix(), "quota_tier": "gold"}
	}
	tokens["good"] = active(now.Add(10*time.Minute), resource)
	tokens["short"] = active(now.Add(20*time.Second), resource)
	tokens["other-aud"] = active(now.Add(time.Hour), "https://other.example")
	tokens["no-aud"] = active(now.Add(time.Hour), nil)
	v, err := NewIntrospectionVerifier(IntrospectionVerifierConfig{Issuer: srv.URL, Resource: resource, ClientID: "rs",
		ClientSecret: "rs-secret", ClockSkew: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ti, err := v.Verify(ctx, "good")
	if err != nil || ti.Subject != "alice" || ti.ClientID != "c1" || !ti.HasScopes("echo:use") || ti.QuotaTier != "gold" {
		t.Fatalf("good: %+v %v", ti, err)
	}
	for _, tc := range []struct{ token, reason string }{{"revoked", ReasonInactive}, {"other-aud", ReasonAudience}, {"no-aud", ReasonAudience}} {
		var te *TokenError
		if _, err := v.Verify(ctx, tc.token); !errors.As(err, &te) || te.Reason != tc.reason {
			t.Errorf("%s: %v, want %s", tc.token, err, tc.reason)
		}
	}
	// Cached: a second use does not ask the AS again.
	before := hits.Load()
	if _, err := v.Verify(ctx, "good"); err != nil || hits.Load() != before {
		t.Errorf("second use: %v, %d more requests", err, hits.Load()-before)
	}
	// Never cached past the token's own expiry, even inside CacheTTL.
	if _, err := v.Verify(ctx, "short"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	var te *TokenError
	if _, err := v.Verify(ctx, "short"); !errors.As(err, &te) || te.Reason != ReasonExpired {
		t.Errorf("short-lived token after expiry: %v", err)
	}
	// Never cached longer than CacheTTL: a revocation is seen after it.
	now = now.Add(2 * time.Minute)
	delete(tokens, "good")
	if _, err := v.Verify(ctx, "good"); !errors.As(err, &te) || te.Reason != ReasonInactive {
		t.Errorf("revoked token after CacheTTL: %v", err)
	}
}

func TestIntrospectionConcurrentUsesShareOneRequest(t *testing.T) {
	const resource = "https://mcp.example/mcp"
	var hits atomic.Int64
	tokens := map[string]map[string]any{}
	srv := introspectionAS(t, tokens, &hits)
	tokens["tok"] = map[string]any{"active": true, "iss": srv.URL, "sub": "alice", "aud": resource,
		"exp": time.Now().Add(time.Hour).Unix()}
	v, _ := NewIntrospectionVerifier(IntrospectionVerifierConfig{Issuer: srv.URL, Resource: resource, ClientID: "rs", ClientSecret: "rs-secret"})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), "tok"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if hits.Load() != 1 {
		t.Errorf("%d introspection requests for one token, want 1", hits.Load())
	}
}
