// Opaque access token verification by OAuth 2.0 Token Introspection (RFC 7662 §2).

package protect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// IntrospectionVerifierConfig configures an [IntrospectionVerifier].
type IntrospectionVerifierConfig struct {
	// Issuer is the authorization server's issuer; its metadata gives the
	// introspection_endpoint unless Endpoint is set, and an iss in the
	// response must equal it. Required.
	Issuer string
	// Endpoint overrides discovery of the introspection endpoint.
	Endpoint string
	// ClientID and ClientSecret authenticate this resource server to the
	// introspection endpoint (HTTP Basic, RFC 7662 §2.1).
	ClientID, ClientSecret string
	// Resource is this server's canonical resource URL; the response's aud
	// must name it. Required.
	Resource string
	// HTTPClient calls the AS (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// CacheTTL bounds how long an active result is reused (default 1 minute):
	// a token revoked at the authorization server is refused here at most
	// CacheTTL later. A result is never cached past the token's exp. No
	// caching: -1.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached results (default 10000).
	CacheSize int
	// ClockSkew is the tolerance for exp and nbf (default 30s).
	ClockSkew time.Duration
	// TierClaim names the member holding the client's quota tier (default "quota_tier").
	TierClaim string
	// Now returns the current time (default time.Now); for tests.
	Now func() time.Time
}

// IntrospectionVerifier verifies opaque tokens by asking the authorization
// server, caching active answers no longer than the token lives.
type IntrospectionVerifier struct {
	cfg IntrospectionVerifierConfig

	endpointMu sync.Mutex
	endpoint   string

	flight singleflight.Group
	cache  *tokenCache
}

// NewIntrospectionVerifier returns a verifier for cfg.
func NewIntrospectionVerifier(cfg IntrospectionVerifierConfig) (*IntrospectionVerifier, error) {
	if cfg.Issuer == "" || cfg.Resource == "" {
		return nil, errors.New("protect: IntrospectionVerifierConfig needs Issuer and Resource")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = time.Minute
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = defaultCacheSize
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 30 * time.Second
	}
	if cfg.TierClaim == "" {
		cfg.TierClaim = "quota_tier"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	size := cfg.CacheSize
	if cfg.CacheTTL < 0 {
		size = 0
	}
	return &IntrospectionVerifier{cfg: cfg, endpoint: cfg.Endpoint, cache: newTokenCache(size)}, nil
}

// Verify introspects token (or reuses a cached answer). See [Verifier].
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	if token == "" {
		return nil, tokenErr(ReasonMalformed, "empty token", nil)
	}
	key := keyOf(token)
	now := v.cfg.Now()
	if ti := v.cache.get(key, now); ti != nil {
		return ti, nil
	}
	// Concurrent requests with one token share one introspection request,
	// which outlives a caller that gives up (HTTPClient's timeout bounds it).
	res, err, _ := v.flight.Do(string(key[:]), func() (any, error) {
		ti, err := v.introspect(context.WithoutCancel(ctx), token)
		if err == nil {
			// Reused for CacheTTL at most, never past the token's expiry.
			until := now.Add(v.cfg.CacheTTL)
			if ti.Expiry.Before(until) {
				until = ti.Expiry
			}
			v.cache.put(key, ti, now, until)
		}
		return ti, err
	})
	if err != nil {
		return nil, err
	}
	return res.(*TokenInfo), nil
}

func (v *IntrospectionVerifier) introspectionEndpoint(ctx context.Context) (string, error) {
	v.endpointMu.Lock()
	defer v.endpointMu.Unlock()
	if v.endpoint != "" {
		return v.endpoint, nil
	}
	md, err := discoverAS(ctx, v.cfg.HTTPClient, v.cfg.Issuer)
	if err != nil {
		return "", err
	}
	if md.IntrospectionEndpoint == "" {
		return "", fmt.Errorf("%w: authorization server metadata has no introspection_endpoint", ErrVerifierUnavailable)
	}
	v.endpoint = md.IntrospectionEndpoint
	return v.endpoint, nil
}

// introspect performs the RFC 7662 §2.1 request and checks the §2.2 response.
func (v *IntrospectionVerifier) introspect(ctx context.Context, token string) (*TokenInfo, error) {
	endpoint, err := v.introspectionEndpoint(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVerifierUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if v.cfg.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	}
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request: %v", ErrVerifierUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil || len(body) > maxMetadataBytes {
		return nil, fmt.Errorf("%w: introspection response unreadable or too large", ErrVerifierUnavailable)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: introspection endpoint answered HTTP %d", ErrVerifierUnavailable, resp.StatusCode)
	}
	return v.checkResponse(body)
}

// checkResponse reads an introspection response (RFC 7662 §2.2): active,
// then the same iss, aud, exp and nbf checks as a JWT access token.
func (v *IntrospectionVerifier) checkResponse(body []byte) (*TokenInfo, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, fmt.Errorf("%w: introspection response is not a JSON object", ErrVerifierUnavailable)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, tokenErr(ReasonInactive, "token is not active", nil)
	}
	ti, err := claimsToInfo(claims, v.cfg.TierClaim)
	if err != nil {
		return nil, err
	}
	if ti.Issuer != "" && ti.Issuer != v.cfg.Issuer {
		return nil, tokenErr(ReasonIssuer, "token was issued by another authorization server", nil)
	}
	if ti.Issuer == "" {
		ti.Issuer = v.cfg.Issuer
	}
	if err := checkAudience(ti.Audience, v.cfg.Resource); err != nil {
		return nil, err
	}
	if err := checkTimes(claims, ti, v.cfg.Now(), v.cfg.ClockSkew); err != nil {
		return nil, err
	}
	return ti, nil
}
