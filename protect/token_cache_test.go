package protect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// cacheFixture is a verifier on a test clock in front of a real JWKS endpoint.
type cacheFixture struct {
	as  *testAS
	v   *JWTVerifier
	now time.Time
	mu  sync.Mutex
}

const cacheResource = "https://mcp.example/mcp"

func newCacheFixture(t *testing.T, size int) *cacheFixture {
	t.Helper()
	fx := &cacheFixture{as: newTestAS(t), now: time.Unix(1_900_000_000, 0)}
	v, err := NewJWTVerifier(JWTVerifierConfig{Issuer: fx.as.issuer, Resource: cacheResource, CacheSize: size,
		Now: func() time.Time { fx.mu.Lock(); defer fx.mu.Unlock(); return fx.now }})
	if err != nil {
		t.Fatal(err)
	}
	fx.v = v
	return fx
}

func (fx *cacheFixture) advance(d time.Duration) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.now = fx.now.Add(d)
}

// token mints a token valid for an hour from the fixture's clock; jti tells tokens apart.
func (fx *cacheFixture) token(t *testing.T, jti string) string {
	c := fx.as.claims(cacheResource, "echo:use")
	c["iat"], c["exp"], c["jti"] = fx.now.Unix(), fx.now.Add(time.Hour).Unix(), jti
	return fx.as.mint(t, c)
}

func (fx *cacheFixture) verify(t *testing.T, token string) *TokenInfo {
	t.Helper()
	ti, err := fx.v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return ti
}

// A token verified once is answered from the cache (the same *TokenInfo, no
// new signature check) until exp plus the clock skew, and refused from then
// on, with the clock read on every request.
func TestJWTCacheHoldsUntilExpiry(t *testing.T) {
	fx := newCacheFixture(t, 0)
	fx.v.cfg.MaxKeyAge = 2 * time.Hour
	tok := fx.token(t, "a")
	first := fx.verify(t, tok)
	if again := fx.verify(t, tok); again != first {
		t.Fatal("second use of a token was verified again, not answered from the cache")
	}
	fx.advance(time.Hour + fx.v.cfg.ClockSkew - time.Second)
	if again := fx.verify(t, tok); again != first {
		t.Fatal("cached token dropped before its expiry")
	}
	fx.advance(time.Second)
	_, err := fx.v.Verify(context.Background(), tok)
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != ReasonExpired {
		t.Fatalf("token at exp+skew: %v, want expired", err)
	}
}

// A clock that goes back before the verification does not use the cache.
func TestJWTCacheClockGoingBackVerifiesAgain(t *testing.T) {
	fx := newCacheFixture(t, 0)
	tok := fx.token(t, "a")
	first := fx.verify(t, tok)
	fx.advance(-time.Second)
	if again := fx.verify(t, tok); again == first {
		t.Fatal("cache used at an instant before the verification")
	}
}

// When the authorization server stops publishing a key (say, it leaked),
// tokens it signed are refused at the next JWKS fetch, cached or not.
func TestJWTCacheForgetsTokensOfAWithdrawnKey(t *testing.T) {
	fx := newCacheFixture(t, 0)
	tok := fx.token(t, "a")
	fx.verify(t, tok)
	next := newKey(t)
	fx.as.publish(jose.JSONWebKey{Key: &next.PublicKey, KeyID: "k2", Algorithm: "ES256", Use: "sig"})
	fx.advance(2 * time.Minute) // past RefreshInterval: an unknown kid fetches the keys again
	claims := fx.as.claims(cacheResource, "echo:use")
	claims["iat"], claims["exp"] = fx.now.Unix(), fx.now.Add(time.Hour).Unix()
	if _, err := fx.v.Verify(context.Background(), sign(t, next, "k2", jose.ES256, "at+jwt", claims)); err != nil {
		t.Fatalf("token of the new key: %v", err)
	}
	_, err := fx.v.Verify(context.Background(), tok)
	var te *TokenError
	if !errors.As(err, &te) || te.Reason != ReasonSignature {
		t.Fatalf("token of the withdrawn key: %v, want a signature refusal", err)
	}
}

// A refetch that finds the same keys keeps the cache.
func TestJWTCacheKeptWhenKeysUnchanged(t *testing.T) {
	fx := newCacheFixture(t, 0)
	tok := fx.token(t, "a")
	first := fx.verify(t, tok)
	fx.advance(2 * time.Minute)
	stranger := newKey(t)
	_, _ = fx.v.Verify(context.Background(), sign(t, stranger, "unknown", jose.ES256, "at+jwt", fx.as.claims(cacheResource, "")))
	if fx.as.jwksHits.Load() != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", fx.as.jwksHits.Load())
	}
	if again := fx.verify(t, tok); again != first {
		t.Fatal("cache dropped although the keys did not change")
	}
}

// No entry outlives MaxKeyAge after its keys were fetched: then the token
// is verified again, which fetches the keys again.
func TestJWTCacheBoundedByKeyAge(t *testing.T) {
	fx := newCacheFixture(t, 0)
	fx.v.cfg.MaxKeyAge = 10 * time.Minute
	tok := fx.token(t, "a")
	first := fx.verify(t, tok)
	fx.advance(10*time.Minute + time.Second)
	if again := fx.verify(t, tok); again == first {
		t.Fatal("cache used past MaxKeyAge")
	}
	if fx.as.jwksHits.Load() != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", fx.as.jwksHits.Load())
	}
}

// The cache holds at most CacheSize tokens, the least recently used leaving
// first; a negative size caches nothing.
func TestJWTCacheBounded(t *testing.T) {
	fx := newCacheFixture(t, 2)
	toks := []string{fx.token(t, "a"), fx.token(t, "b"), fx.token(t, "c")}
	infos := make([]*TokenInfo, len(toks))
	for i, tok := range toks {
		infos[i] = fx.verify(t, tok)
	}
	if fx.verify(t, toks[2]) != infos[2] || fx.verify(t, toks[1]) != infos[1] {
		t.Fatal("recent tokens not cached")
	}
	if fx.verify(t, toks[0]) == infos[0] {
		t.Fatal("a third token was kept in a cache of two")
	}

	off := newCacheFixture(t, -1)
	tok := off.token(t, "a")
	if off.verify(t, tok) == off.verify(t, tok) {
		t.Fatal("CacheSize -1 still caches")
	}
}

// Concurrent requests with many tokens (run with -race).
func TestJWTCacheConcurrent(t *testing.T) {
	fx := newCacheFixture(t, 8)
	toks := make([]string, 16)
	for i := range toks {
		toks[i] = fx.token(t, fmt.Sprint(i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := fx.v.Verify(context.Background(), toks[(g+i)%len(toks)]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
