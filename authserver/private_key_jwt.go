// Client authentication with private_key_jwt: RFC 7523 §2.2 and §3 (JWT client assertions),
// with the keys from the client's registered "jwks" (RFC 7591 §2).
package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/authserver/store"
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

// assertionLeeway is the clock difference allowed between a client and this server for an
// assertion's exp and nbf.
const assertionLeeway = time.Minute

// maxJTILength bounds the jti of an assertion, which the store keeps until the assertion expires.
const maxJTILength = 1024

// verifyClientAssertion checks an assertion against the client's registered keys (RFC 7523
// §3): signature, iss = sub = client_id, aud naming this server (its issuer or the endpoint
// called), exp within maxAssertionLifetime, and a jti this client never used in an assertion
// still acceptable. The jti is recorded in the store, so each assertion is accepted once by
// all the instances sharing it.
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
	case claims.Expiry == nil || !claims.Expiry.Time().After(now.Add(-assertionLeeway)):
		return newError(errInvalidClient, "client assertion: expired or without exp")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime)):
		return newError(errInvalidClient, "client assertion: exp is too far in the future")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return newError(errInvalidClient, "client assertion: not valid yet")
	case claims.ID == "":
		return newError(errInvalidClient, "client assertion: jti is required")
	case len(claims.ID) > maxJTILength || strings.ContainsRune(claims.ID, 0):
		return newError(errInvalidClient, "client assertion: jti is too long or holds a NUL character")
	}
	// Kept until the assertion is refused as expired: exp plus the leeway.
	err = s.store.UseClientAssertion(r.Context(), c.id, claims.ID, claims.Expiry.Time().Add(assertionLeeway), now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		s.audit(r.Context(), "client_auth.replay", "client_id", c.id)
		return newError(errInvalidClient, "client assertion: this jti was already used")
	case err != nil:
		s.log.ErrorContext(r.Context(), "authserver: record client assertion", "err", err)
		return newError(errServerError, "internal error")
	}
	return nil
}

func algNames(algs []jose.SignatureAlgorithm) []string {
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}
