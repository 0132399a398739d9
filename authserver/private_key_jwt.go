// Client authentication with private_key_jwt: RFC 7523 §2.2 and §3 (JWT client assertions),
// with the keys from the client's registered "jwks" (RFC 7591 §2).
package authserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the client_assertion_type of RFC 7523 §2.2.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime bounds how far in the future an assertion's exp may be, which also
// bounds how long its jti must be remembered.
const maxAssertionLifetime = 10 * time.Minute

// assertionAlgs are the signature algorithms accepted for client assertions.
var assertionAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

// checkClientKeys checks the key set of a client that authenticates with private_key_jwt: an
// inline "jwks" of public signing keys. jwks_uri is refused: fetching it would be one more
// request to an address the client chooses.
func checkClientKeys(m *ClientMetadata) error {
	if m.TokenEndpointAuthMethod != AuthMethodPrivateKeyJWT {
		return nil
	}
	if m.JWKSURI != "" {
		return metadataError("jwks_uri is not supported; register the public keys inline as jwks")
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(m.JWKS, &set); err != nil || len(set.Keys) == 0 {
		return metadataError("jwks must hold at least one JSON Web Key")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			return metadataError("jwks must hold only valid public keys")
		}
		if k.Use != "" && k.Use != "sig" {
			return metadataError("jwks keys must be signing keys (use \"sig\")")
		}
	}
	return nil
}

// assertionClientID returns the client ID an assertion claims to come from (its "sub"), read
// without verification so the client and its keys can be looked up.
func assertionClientID(assertion string) (string, bool) {
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil {
		return "", false
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil || c.Subject == "" {
		return "", false
	}
	return c.Subject, true
}

// verifyClientAssertion checks an assertion against the client's registered keys (RFC 7523
// §3): signature, iss = sub = client_id, aud naming this server (its issuer or the endpoint
// called), exp within maxAssertionLifetime, and a jti not seen before.
func (s *Server) verifyClientAssertion(r *http.Request, c *client, assertion string) *oauthError {
	fail := newError(errInvalidClient, "client assertion (private_key_jwt) is invalid")
	var keys jose.JSONWebKeySet
	if len(c.meta.JWKS) == 0 || json.Unmarshal(c.meta.JWKS, &keys) != nil || len(keys.Keys) == 0 {
		return newError(errInvalidClient, "the client has no registered keys (jwks) for private_key_jwt")
	}
	tok, err := jwt.ParseSigned(assertion, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return fail
	}
	candidates := keys.Keys
	if kid := tok.Headers[0].KeyID; kid != "" {
		candidates = keys.Key(kid)
	}
	var claims jwt.Claims
	verified := false
	for _, k := range candidates {
		if k.IsPublic() && tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fail
	}
	now := s.now()
	audiences := []string{s.cfg.Issuer, s.endpoint(pathToken), s.cfg.Issuer + r.URL.Path}
	switch {
	case claims.Issuer != c.id || claims.Subject != c.id:
		return newError(errInvalidClient, "client assertion: iss and sub must be the client_id")
	case !slices.ContainsFunc(audiences, claims.Audience.Contains):
		return newError(errInvalidClient, "client assertion: aud must name this authorization server")
	case claims.Expiry == nil || !claims.Expiry.Time().After(now.Add(-time.Minute)):
		return newError(errInvalidClient, "client assertion: expired or without exp")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime)):
		return newError(errInvalidClient, "client assertion: exp is too far in the future")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(time.Minute)):
		return newError(errInvalidClient, "client assertion: not valid yet")
	case claims.ID == "":
		return newError(errInvalidClient, "client assertion: jti is required")
	case !s.assertionJTIs.firstUse(c.id+"\x00"+claims.ID, claims.Expiry.Time(), now):
		s.audit(r.Context(), "client_auth.replay", "client_id", c.id)
		return newError(errInvalidClient, "client assertion: this jti was already used")
	}
	return nil
}

// jtiCache remembers the jti of client assertions until they expire, so each is accepted once
// (RFC 7523 §3 item 7). It is per instance: across instances sharing a store, an assertion
// could be replayed once per instance within its lifetime of at most maxAssertionLifetime.
type jtiCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// maxJTIs bounds the cache; beyond it, new assertions are refused until old ones expire.
const maxJTIs = 100000

// firstUse records id until exp and reports whether it was new.
func (c *jtiCache) firstUse(id string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	if len(c.seen) >= maxJTIs/2 {
		for k, e := range c.seen {
			if e.Before(now) {
				delete(c.seen, k)
			}
		}
	}
	if _, dup := c.seen[id]; dup || len(c.seen) >= maxJTIs {
		return false
	}
	c.seen[id] = exp
	return true
}

func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}
