// JWT access token verification per RFC 9068 §4, with keys from the authorization server's jwks_uri (RFC 8414 §2).

package protect

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultAlgorithms are the JWS algorithms a [JWTVerifier] accepts unless
// configured otherwise. "none" and the HMAC algorithms are never accepted.
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256, jose.ES384, jose.EdDSA}

// JWTVerifierConfig configures a [JWTVerifier].
type JWTVerifierConfig struct {
	// Issuer is the authorization server's issuer identifier; tokens must
	// carry exactly this iss. Required.
	Issuer string
	// Resource is this server's canonical resource URL; tokens must name it
	// in aud (RFC 8707, RFC 9068 §4). Required.
	Resource string
	// JWKSURL overrides discovery of jwks_uri from the issuer's metadata.
	JWKSURL string
	// HTTPClient fetches metadata and keys (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Algorithms lists the accepted JWS algorithms (default DefaultAlgorithms).
	// Symmetric algorithms and "none" are refused even if listed.
	Algorithms []jose.SignatureAlgorithm
	// ClockSkew is the tolerance for exp, nbf and iat (default 30s).
	ClockSkew time.Duration
	// RefreshInterval is the minimum time between two JWKS fetches caused by
	// an unknown kid (default 1 minute); keys are also refetched when they
	// are older than MaxKeyAge (default 1 hour).
	RefreshInterval time.Duration
	MaxKeyAge       time.Duration
	// TierClaim names the claim holding the client's quota tier (default "quota_tier").
	TierClaim string
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

// JWTVerifier verifies RFC 9068 JWT access tokens issued by one
// authorization server for one resource. It is safe for concurrent use.
type JWTVerifier struct {
	cfg JWTVerifierConfig

	mu          sync.Mutex
	jwksURL     string
	keys        []jose.JSONWebKey
	fetchedAt   time.Time
	lastAttempt time.Time
}

// NewJWTVerifier returns a verifier for cfg. It does not contact the
// authorization server until the first token arrives.
func NewJWTVerifier(cfg JWTVerifierConfig) (*JWTVerifier, error) {
	if cfg.Issuer == "" || cfg.Resource == "" {
		return nil, errors.New("protect: JWTVerifierConfig needs Issuer and Resource")
	}
	if _, err := metadataURLs(cfg.Issuer); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = DefaultAlgorithms
	}
	cfg.Algorithms = slices.DeleteFunc(slices.Clone(cfg.Algorithms), func(a jose.SignatureAlgorithm) bool {
		return a == "none" || a == jose.HS256 || a == jose.HS384 || a == jose.HS512
	})
	if len(cfg.Algorithms) == 0 {
		return nil, errors.New("protect: no asymmetric signature algorithm allowed")
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Minute
	}
	if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = time.Hour
	}
	if cfg.TierClaim == "" {
		cfg.TierClaim = "quota_tier"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWTVerifier{cfg: cfg, jwksURL: cfg.JWKSURL}, nil
}

// jwtHeader is the part of the JOSE header checked before the signature.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// Verify checks token and returns its claims. See [Verifier].
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	hdr, err := parseJWTHeader(token)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(v.cfg.Algorithms, jose.SignatureAlgorithm(hdr.Alg)) {
		return nil, tokenErr(ReasonAlgorithm, fmt.Sprintf("signature algorithm %q not accepted", hdr.Alg), nil)
	}
	// RFC 9068 §2.1 and §4: typ must be "at+jwt" (the "application/" prefix may be present).
	if typ := strings.ToLower(hdr.Typ); typ != "at+jwt" && typ != "application/at+jwt" {
		return nil, tokenErr(ReasonType, "token type is not at+jwt", nil)
	}
	jws, err := jose.ParseSigned(token, v.cfg.Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, tokenErr(ReasonMalformed, "not a compact JWS", err)
	}
	payload, err := v.verifySignature(ctx, jws, hdr.Kid)
	if err != nil {
		return nil, err
	}
	return v.checkClaims(payload)
}

// parseJWTHeader decodes the protected header of a compact JWS.
func parseJWTHeader(token string) (*jwtHeader, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, tokenErr(ReasonMalformed, "not a JWT", nil)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, tokenErr(ReasonMalformed, "JWT header is not base64url", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, tokenErr(ReasonMalformed, "JWT header is not JSON", err)
	}
	return &h, nil
}

// verifySignature finds the key for kid (refetching the JWKS at a bounded
// rate when kid is unknown) and verifies the signature.
func (v *JWTVerifier) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, kid string) ([]byte, error) {
	keys, err := v.keysFor(ctx, kid)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, tokenErr(ReasonSignature, "signing key not found in the authorization server's JWKS", nil)
	}
	for _, k := range keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != jws.Signatures[0].Header.Algorithm {
			continue
		}
		if payload, err := jws.Verify(k.Key); err == nil {
			return payload, nil
		}
	}
	return nil, tokenErr(ReasonSignature, "signature does not verify", nil)
}

// keysFor returns the public keys that may have signed a token with kid.
func (v *JWTVerifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	stale := v.keys == nil || now.Sub(v.fetchedAt) > v.cfg.MaxKeyAge
	found := matchKeys(v.keys, kid)
	if stale || (len(found) == 0 && now.Sub(v.lastAttempt) >= v.cfg.RefreshInterval) {
		v.lastAttempt = now
		if err := v.fetchKeys(ctx); err != nil {
			if v.keys == nil {
				return nil, err
			}
			// Keep serving with the keys we have; the AS may be briefly down.
		} else {
			v.fetchedAt = now
			found = matchKeys(v.keys, kid)
		}
	}
	return found, nil
}

func matchKeys(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if (kid == "" || k.KeyID == kid) && k.IsPublic() {
			out = append(out, k)
		}
	}
	return out
}

// fetchKeys (re)loads the JWKS; v.mu is held.
func (v *JWTVerifier) fetchKeys(ctx context.Context) error {
	if v.jwksURL == "" {
		md, err := discoverAS(ctx, v.cfg.HTTPClient, v.cfg.Issuer)
		if err != nil {
			return err
		}
		if md.JWKSURI == "" {
			return fmt.Errorf("%w: authorization server metadata has no jwks_uri", ErrVerifierUnavailable)
		}
		v.jwksURL = md.JWKSURI
	}
	var set jose.JSONWebKeySet
	status, err := getJSON(ctx, v.cfg.HTTPClient, v.jwksURL, &set)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("%w: GET %s: HTTP %d", ErrVerifierUnavailable, v.jwksURL, status)
	}
	v.keys = set.Keys
	return nil
}

// checkClaims validates the RFC 9068 §2.2 claims of a verified payload.
func (v *JWTVerifier) checkClaims(payload []byte) (*TokenInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, tokenErr(ReasonMalformed, "JWT claims are not a JSON object", err)
	}
	ti, err := claimsToInfo(claims, v.cfg.TierClaim)
	if err != nil {
		return nil, err
	}
	if ti.Issuer != v.cfg.Issuer {
		return nil, tokenErr(ReasonIssuer, "token was issued by another authorization server", nil)
	}
	if err := checkAudience(ti.Audience, v.cfg.Resource); err != nil {
		return nil, err
	}
	if err := checkTimes(claims, ti, v.cfg.Now(), v.cfg.ClockSkew); err != nil {
		return nil, err
	}
	return ti, nil
}

// claimsToInfo maps JWT or introspection claims to a TokenInfo.
func claimsToInfo(claims map[string]any, tierClaim string) (*TokenInfo, error) {
	ti := &TokenInfo{Claims: claims}
	str := func(name string) (string, error) {
		switch s := claims[name].(type) {
		case nil:
			return "", nil
		case string:
			return s, nil
		default:
			return "", tokenErr(ReasonClaims, fmt.Sprintf("claim %q is not a string", name), nil)
		}
	}
	var err error
	for name, dst := range map[string]*string{"iss": &ti.Issuer, "sub": &ti.Subject, "client_id": &ti.ClientID, "jti": &ti.ID, tierClaim: &ti.QuotaTier} {
		if *dst, err = str(name); err != nil {
			return nil, err
		}
	}
	scope, err := str("scope")
	if err != nil {
		return nil, err
	}
	ti.Scopes = strings.Fields(scope)
	switch aud := claims["aud"].(type) {
	case string:
		ti.Audience = []string{aud}
	case []any:
		for _, a := range aud {
			s, ok := a.(string)
			if !ok {
				return nil, tokenErr(ReasonClaims, `claim "aud" holds a non-string`, nil)
			}
			ti.Audience = append(ti.Audience, s)
		}
	case nil:
	default:
		return nil, tokenErr(ReasonClaims, `claim "aud" is neither a string nor an array`, nil)
	}
	if ti.Subject == "" {
		return nil, tokenErr(ReasonClaims, `claim "sub" is missing`, nil)
	}
	return ti, nil
}

// checkAudience requires resource among the token's audiences. A missing aud
// is refused: a token without an audience could be replayed at any server.
func checkAudience(aud []string, resource string) error {
	if len(aud) == 0 {
		return tokenErr(ReasonAudience, "token has no audience", nil)
	}
	want := strings.TrimSuffix(resource, "/")
	for _, a := range aud {
		if strings.TrimSuffix(a, "/") == want {
			return nil
		}
	}
	return tokenErr(ReasonAudience, "token is for another resource", nil)
}

// numericDate reads a JWT NumericDate claim (RFC 7519 §2).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return time.Time{}, false, nil
	}
	var f float64
	switch n := raw.(type) {
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return time.Time{}, false, tokenErr(ReasonClaims, fmt.Sprintf("claim %q is not a number", name), err)
		}
	case float64:
		f = n
	default:
		return time.Time{}, false, tokenErr(ReasonClaims, fmt.Sprintf("claim %q is not a number", name), nil)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<40 {
		return time.Time{}, false, tokenErr(ReasonClaims, fmt.Sprintf("claim %q is out of range", name), nil)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// checkTimes enforces exp (required), nbf and iat with skew, and fills
// ti.Expiry and ti.IssuedAt.
func checkTimes(claims map[string]any, ti *TokenInfo, now time.Time, skew time.Duration) error {
	exp, ok, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	if !ok {
		return tokenErr(ReasonClaims, `claim "exp" is missing`, nil)
	}
	if !now.Before(exp.Add(skew)) {
		return tokenErr(ReasonExpired, "token has expired", nil)
	}
	ti.Expiry = exp
	if nbf, ok, err := numericDate(claims, "nbf"); err != nil {
		return err
	} else if ok && now.Add(skew).Before(nbf) {
		return tokenErr(ReasonNotYet, "token is not valid yet", nil)
	}
	iat, ok, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	if ok {
		if now.Add(skew).Before(iat) {
			return tokenErr(ReasonNotYet, "token was issued in the future", nil)
		}
		ti.IssuedAt = iat
	}
	return nil
}
