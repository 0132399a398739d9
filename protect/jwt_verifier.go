// JWT access token verification per RFC 9068 §4, with keys from the authorization server's jwks_uri (RFC 8414 §2).

package protect

import (
	"bytes"
	"context"
	"crypto"
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
	// HTTPClient fetches metadata and keys (default: a client with a 10s
	// timeout that keeps no idle connection: fetches are minutes apart, and
	// an idle connection would hold its buffers and two goroutines, which the
	// garbage collector scans on every cycle, for nothing).
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
	// CacheSize bounds the number of verified tokens remembered (default
	// 10000; negative: none). A remembered token is accepted again without
	// a signature check until it expires (exp plus ClockSkew, on the clock
	// read at each request), and for at most MaxKeyAge after the keys that
	// verified it were fetched; a JWKS fetch that changes the keys forgets
	// every token.
	CacheSize int
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

// JWTVerifier verifies RFC 9068 JWT access tokens issued by one
// authorization server for one resource. It is safe for concurrent use.
type JWTVerifier struct {
	cfg JWTVerifierConfig

	fetchMu     sync.Mutex // serialises JWKS fetches
	mu          sync.Mutex // guards the fields below
	jwksURL     string
	keys        []jose.JSONWebKey
	fetchedAt   time.Time
	lastAttempt time.Time
	lastErr     error  // of the last failed fetch
	keysGen     uint64 // counts changes of keys; a verification under an older generation is not cached

	cache *tokenCache
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
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DisableKeepAlives = true
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: t}
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
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWTVerifier{cfg: cfg, jwksURL: cfg.JWKSURL, cache: newTokenCache(cfg.CacheSize)}, nil
}

// jwtHeader is the part of the JOSE header checked before the signature.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// Verify checks token and returns its claims. See [Verifier]. A token
// verified before is answered from the cache (see
// JWTVerifierConfig.CacheSize) with the same *TokenInfo.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	key, now := keyOf(token), v.cfg.Now()
	if ti := v.cache.get(key, now); ti != nil {
		return ti, nil
	}
	v.mu.Lock()
	gen := v.keysGen
	v.mu.Unlock()
	ti, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keysGen == gen { // the keys did not change meanwhile
		until := ti.Expiry.Add(v.cfg.ClockSkew)
		if keysStale := v.fetchedAt.Add(v.cfg.MaxKeyAge); keysStale.Before(until) {
			until = keysStale
		}
		v.cache.put(key, ti, now, until)
	}
	return ti, nil
}

// verify checks the header, signature and claims of token at now.
func (v *JWTVerifier) verify(ctx context.Context, token string, now time.Time) (*TokenInfo, error) {
	jws, kid, err := v.parseToken(token)
	if err != nil {
		return nil, err
	}
	payload, err := v.verifySignature(ctx, jws, kid)
	if err != nil {
		return nil, err
	}
	return v.checkClaims(payload, now)
}

// parseToken parses a compact JWS with one signature and checks its header
// before any key is looked up: an accepted algorithm and typ at+jwt. It
// returns the JWS and the key ID.
func (v *JWTVerifier) parseToken(token string) (*jose.JSONWebSignature, string, error) {
	hdr, err := parseJWTHeader(token)
	if err != nil {
		return nil, "", err
	}
	if !slices.Contains(v.cfg.Algorithms, jose.SignatureAlgorithm(hdr.Alg)) {
		return nil, "", tokenErr(ReasonAlgorithm, fmt.Sprintf("signature algorithm %q not accepted", hdr.Alg), nil)
	}
	// RFC 9068 §2.1 and §4: typ must be "at+jwt" (the "application/" prefix may be present).
	if typ := strings.ToLower(hdr.Typ); typ != "at+jwt" && typ != "application/at+jwt" {
		return nil, "", tokenErr(ReasonType, "token type is not at+jwt", nil)
	}
	jws, err := jose.ParseSigned(token, v.cfg.Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", tokenErr(ReasonMalformed, "not a compact JWS", err)
	}
	return jws, hdr.Kid, nil
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
// Tokens whose key is cached never wait for a JWKS fetch: only requests
// that need the fetch (no keys yet, or an unknown kid once per
// RefreshInterval) wait for it, and fetches are serialised. Keys older
// than MaxKeyAge are refreshed by the next request that needs a fetch.
func (v *JWTVerifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	v.mu.Lock()
	found := matchKeys(v.keys, kid)
	needFetch := v.needFetch(len(found) > 0)
	noKeys, lastErr := v.keys == nil, v.lastErr
	v.mu.Unlock()
	if !needFetch && !noKeys {
		return found, nil
	}
	if !needFetch && lastErr != nil { // the last fetch failed moments ago: fail fast
		return nil, lastErr
	}
	// A fetch is due, or the first fetch is under way: wait for it.
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	v.mu.Lock()
	found = matchKeys(v.keys, kid)
	needFetch = v.needFetch(len(found) > 0) // another request may have fetched meanwhile
	if needFetch {
		v.lastAttempt = v.cfg.Now()
	}
	noKeys, lastErr = v.keys == nil, v.lastErr
	v.mu.Unlock()
	if !needFetch {
		if noKeys { // the fetch we waited for failed
			return nil, lastErr
		}
		return found, nil
	}
	keys, jwksURL, err := v.fetchKeys(ctx)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.lastErr = err
		if v.keys == nil {
			return nil, err
		}
		// Keep serving with the keys we have; the AS may be briefly down.
		return matchKeys(v.keys, kid), nil
	}
	if v.keys != nil && !sameKeys(v.keys, keys) {
		// Tokens verified with a key no longer published must be checked again.
		v.keysGen++
		v.cache.clear()
	}
	v.keys, v.jwksURL, v.fetchedAt = keys, jwksURL, v.cfg.Now()
	return matchKeys(v.keys, kid), nil
}

// needFetch reports whether a JWKS fetch is due; v.mu is held.
func (v *JWTVerifier) needFetch(haveKey bool) bool {
	now := v.cfg.Now()
	if v.keys == nil {
		// Retry a failed first fetch at most once a second, so that an
		// unreachable AS fails requests fast instead of queueing them.
		return v.lastAttempt.IsZero() || now.Sub(v.lastAttempt) >= time.Second
	}
	if now.Sub(v.lastAttempt) < v.cfg.RefreshInterval {
		return false
	}
	return !haveKey || now.Sub(v.fetchedAt) > v.cfg.MaxKeyAge
}

// sameKeys reports whether two key sets hold the same keys, in order, with
// the same identifiers and constraints.
func sameKeys(a, b []jose.JSONWebKey) bool {
	return slices.EqualFunc(a, b, func(x, y jose.JSONWebKey) bool {
		if x.KeyID != y.KeyID || x.Algorithm != y.Algorithm || x.Use != y.Use {
			return false
		}
		tx, errx := x.Thumbprint(crypto.SHA256)
		ty, erry := y.Thumbprint(crypto.SHA256)
		return errx == nil && erry == nil && bytes.Equal(tx, ty)
	})
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

// fetchKeys loads the JWKS (discovering its URL first if needed) without
// holding v.mu; v.fetchMu is held.
func (v *JWTVerifier) fetchKeys(ctx context.Context) ([]jose.JSONWebKey, string, error) {
	v.mu.Lock()
	jwksURL := v.jwksURL
	v.mu.Unlock()
	if jwksURL == "" {
		md, err := discoverAS(ctx, v.cfg.HTTPClient, v.cfg.Issuer)
		if err != nil {
			return nil, "", err
		}
		if md.JWKSURI == "" {
			return nil, "", fmt.Errorf("%w: authorization server metadata has no jwks_uri", ErrVerifierUnavailable)
		}
		jwksURL = md.JWKSURI
	}
	var set jose.JSONWebKeySet
	status, err := getJSON(ctx, v.cfg.HTTPClient, jwksURL, &set)
	if err != nil {
		return nil, "", err
	}
	if status != http.StatusOK {
		return nil, "", fmt.Errorf("%w: GET %s: HTTP %d", ErrVerifierUnavailable, jwksURL, status)
	}
	return set.Keys, jwksURL, nil
}

// checkClaims validates the RFC 9068 §2.2 claims of a verified payload.
func (v *JWTVerifier) checkClaims(payload []byte, now time.Time) (*TokenInfo, error) {
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
	if err := checkTimes(claims, ti, now, v.cfg.ClockSkew); err != nil {
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
