// Verification of bearer access tokens (RFC 6750 §2.1, RFC 9068, RFC 7662).

package protect

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// TokenInfo is what the middleware knows about a verified access token. It is
// stored in the request context (see [TokenInfoFromContext]) for the wrapped
// handler; the token itself is never passed on. The verifiers of this package
// share one TokenInfo between the requests of a cached token: treat it as
// read-only.
type TokenInfo struct {
	Issuer   string    // iss: the authorization server that issued the token
	Subject  string    // sub: the user (or, for client_credentials, the client)
	ClientID string    // client_id: the OAuth client the token was issued to
	Scopes   []string  // scope, split on spaces
	Audience []string  // aud: the resources the token is for
	Expiry   time.Time // exp
	IssuedAt time.Time // iat (zero when absent)
	ID       string    // jti (empty when absent)
	// QuotaTier is the rate-limit tier of the client, from the claim named by
	// JWTVerifierConfig.TierClaim (default "quota_tier"); empty when absent.
	QuotaTier string
	// Claims holds every claim of the token (JWT) or introspection response.
	Claims map[string]any

	derived *derived // made by this package's verifiers before the info is shared between requests
}

// derived holds what the middleware computes from a TokenInfo for every
// request: this package's verifiers compute it once per cached token.
type derived struct {
	sdk        *auth.TokenInfo // the go-sdk's view
	user       string          // the user across authorization servers: issuer and subject
	rateUser   string          // the rate-limit keys of the user and of the client
	rateClient string          // (empty without a client_id)
}

// derive returns ti's derived values: computed before ti was shared, or now.
func (ti *TokenInfo) derive() *derived {
	if ti.derived != nil {
		return ti.derived
	}
	user := ti.Issuer + "\x00" + ti.Subject
	d := &derived{user: user, rateUser: "user:" + user}
	d.sdk = &auth.TokenInfo{Scopes: ti.Scopes, UserID: user, Extra: map[string]any{sdkExtraKey: ti}}
	if ti.ClientID != "" {
		d.rateClient = "client:" + ti.Issuer + "\x00" + ti.ClientID
	}
	return d
}

// HasScopes reports whether every scope in want was granted literally (the
// middleware also applies Config.ScopeHierarchy).
func (ti *TokenInfo) HasScopes(want ...string) bool {
	for _, s := range want {
		if !slices.Contains(ti.Scopes, s) {
			return false
		}
	}
	return true
}

// A Verifier checks an access token and describes it. A token that is not
// acceptable (bad signature, expired, for another resource, ...) yields a
// *TokenError; any other error means the verifier could not decide (for
// example the authorization server was unreachable) and the middleware answers
// 503 rather than 401.
type Verifier interface {
	Verify(ctx context.Context, token string) (*TokenInfo, error)
}

// VerifierFunc adapts a function to the [Verifier] interface.
type VerifierFunc func(ctx context.Context, token string) (*TokenInfo, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	return f(ctx, token)
}

// Reasons a token is refused; they label the auth-failure metric and are safe
// to show to clients.
const (
	ReasonMissing   = "missing"   // no bearer token in the request
	ReasonMalformed = "malformed" // not a parseable token
	ReasonAlgorithm = "algorithm" // signature algorithm not allowed (e.g. none)
	ReasonType      = "type"      // JWT typ is not at+jwt
	ReasonSignature = "signature" // signature does not verify, or unknown key
	ReasonIssuer    = "issuer"    // iss is not the expected authorization server
	ReasonAudience  = "audience"  // aud does not name this resource
	ReasonExpired   = "expired"   // exp has passed
	ReasonNotYet    = "not_yet_valid"
	ReasonClaims    = "claims"   // a required claim is missing or malformed
	ReasonInactive  = "inactive" // introspection says active=false
)

// TokenError is returned by a [Verifier] for a token that must be refused with
// 401 invalid_token. Its message never contains the token.
type TokenError struct {
	Reason string // one of the Reason constants
	Detail string // a short human-readable explanation, safe for clients
	Err    error  // the underlying cause, if any (not shown to clients)
}

func (e *TokenError) Error() string {
	if e.Detail != "" {
		return "invalid token: " + e.Detail
	}
	return "invalid token: " + e.Reason
}

func (e *TokenError) Unwrap() error { return e.Err }

func tokenErr(reason, detail string, err error) *TokenError {
	return &TokenError{Reason: reason, Detail: detail, Err: err}
}

// ErrVerifierUnavailable wraps failures to reach the authorization server
// (metadata, JWKS or introspection endpoint).
var ErrVerifierUnavailable = errors.New("protect: token verifier unavailable")
