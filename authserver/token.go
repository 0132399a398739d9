// The token endpoint: OAuth 2.1 §3.2 and §4.1.3 (authorization_code with PKCE, single use, a
// replayed code revokes what it issued), §4.3 (refresh_token with rotation; reuse of a rotated
// token revokes the family, per the OAuth 2.0 Security BCP, RFC 9700 §4.14.2), §4.2
// (client_credentials) and RFC 8707 §2.2 (resource).
package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// tokenRequest is a parsed token request (RFC 6749 §4.1.3, §6; OAuth 2.1 §4.3; RFC 8707 §2.2).
type tokenRequest struct {
	grantType    string
	code         string
	redirectURI  string
	codeVerifier string
	refreshToken string
	deviceCode   string   // RFC 8628 §3.4
	scope        string   // the scope parameter as sent
	scopes       []string // its scopes; nil when the request has no scope parameter
	resources    []string
}

// parseTokenRequest reads the parameters of a token request. Every parameter but resource may
// appear at most once (RFC 6749 §3.2). A resource that is one of the configured ones (each
// checked as a resource URI by Config.defaults) is valid without parsing it again.
func parseTokenRequest(form url.Values, configured map[string]Resource) (*tokenRequest, *oauthError) {
	for k, v := range form {
		if len(v) > 1 && k != "resource" {
			return nil, newError(errInvalidRequest, "parameter "+truncate(k)+" appears more than once")
		}
	}
	tr := &tokenRequest{
		grantType: form.Get("grant_type"), code: form.Get("code"), redirectURI: form.Get("redirect_uri"),
		codeVerifier: form.Get("code_verifier"), refreshToken: form.Get("refresh_token"),
		deviceCode: form.Get("device_code"), scope: form.Get("scope"),
	}
	if form.Has("scope") {
		scopes, e := parseScope(tr.scope)
		if e != nil {
			return nil, e
		}
		if tr.scopes = scopes; scopes == nil {
			tr.scopes = []string{} // a scope parameter without scopes: none, not the default
		}
	}
	resources := form["resource"]
	for _, r := range resources {
		if _, ok := configured[r]; !ok && !validResourceParam(r) {
			return nil, newError(errInvalidTarget, "resource must be an absolute URI without a fragment (RFC 8707 §2)")
		}
	}
	if len(resources) == 1 {
		tr.resources = resources[:1:1] // the form's own value (an append copies it)
	} else {
		for _, r := range resources {
			if !slices.Contains(tr.resources, r) {
				tr.resources = append(tr.resources, r)
			}
		}
	}
	switch tr.grantType {
	case "":
		return nil, newError(errInvalidRequest, "grant_type is required")
	case GrantAuthorizationCode:
		if tr.code == "" {
			return nil, newError(errInvalidRequest, "code is required")
		}
		if tr.codeVerifier == "" {
			return nil, newError(errInvalidRequest, "code_verifier is required (PKCE)")
		}
	case GrantRefreshToken:
		if tr.refreshToken == "" {
			return nil, newError(errInvalidRequest, "refresh_token is required")
		}
	case GrantClientCredentials:
	case GrantDeviceCode: // RFC 8628: device.go (cli)
		if tr.deviceCode == "" {
			return nil, newError(errInvalidRequest, "device_code is required")
		}
	default:
		return nil, newError(errUnsupportedGrantType, "grant_type "+truncate(tr.grantType)+" is not supported")
	}
	return tr, nil
}

// validResourceParam reports whether a resource parameter is an absolute URI without a
// fragment (RFC 8707 §2).
func validResourceParam(r string) bool {
	u, err := url.Parse(r)
	return err == nil && u.IsAbs() && u.Fragment == ""
}

// tokenResponse is the successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// write writes the response with the headers of writeJSON, its JSON appended by hand.
func (t *tokenResponse) write(w http.ResponseWriter) {
	b := make([]byte, 0, 160+len(t.AccessToken)+len(t.RefreshToken)+len(t.Scope))
	b = appendJSONMember(b, true, "access_token", t.AccessToken)
	b = appendJSONMember(b, false, "token_type", t.TokenType)
	b = appendJSONInt(b, false, "expires_in", t.ExpiresIn)
	b = appendJSONMember(b, false, "scope", t.Scope)
	if t.RefreshToken != "" {
		b = appendJSONMember(b, false, "refresh_token", t.RefreshToken)
	}
	b = append(b, '}', '\n')
	h := w.Header()
	h["Content-Type"] = headerJSON
	h["X-Content-Type-Options"] = headerNosniff
	h["Cache-Control"] = headerNoStore
	h["Pragma"] = headerNoCache
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// Header values of token responses, shared (net/http only reads them).
var (
	headerJSON    = []string{"application/json"}
	headerNosniff = []string{"nosniff"}
	headerNoStore = []string{"no-store"}
	headerNoCache = []string{"no-cache"}
)

// handleToken is POST /token.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	c := s.clientRequest(w, r)
	if c == nil {
		return
	}
	tr, e := parseTokenRequest(r.PostForm, s.resources)
	if e != nil {
		writeError(w, r, e)
		return
	}
	var resp *tokenResponse
	switch tr.grantType {
	case GrantAuthorizationCode:
		resp, e = s.exchangeCode(r.Context(), c, tr)
	case GrantRefreshToken:
		resp, e = s.refresh(r.Context(), c, tr)
	case GrantClientCredentials:
		resp, e = s.clientCredentials(r.Context(), c, tr)
	case GrantDeviceCode:
		resp, e = s.deviceToken(r.Context(), c, tr.deviceCode)
	}
	if e != nil {
		if e.Code == errServerError {
			s.log.ErrorContext(r.Context(), "authserver: token request", "err", e.Description, "grant_type", tr.grantType)
			e = newError(errServerError, "internal error")
		} else if !pendingPoll(e) {
			s.audit(r.Context(), "token.refused", "client_id", c.id, "grant_type", tr.grantType, "error", e.Code, "reason", e.Description)
		}
		writeError(w, r, e)
		return
	}
	// Last use matters at the scale of ClientIdleExpiry: record it at most hourly.
	if c.stored != nil && s.now().Sub(c.stored.LastUsedAt) > time.Hour {
		if err := s.store.TouchClient(r.Context(), c.id, s.now()); err != nil {
			s.log.ErrorContext(r.Context(), "authserver: touch client", "err", err)
		}
	}
	resp.write(w)
}

func internalError(err error) *oauthError { return newError(errServerError, err.Error()) }

// narrow returns the requested subset of the granted values, or all granted values when
// nothing was requested; ok is false when something requested is not granted.
func narrow(requested, granted []string) (out []string, ok bool) {
	if requested == nil {
		return granted, true
	}
	for _, v := range requested {
		if !slices.Contains(granted, v) {
			return nil, false
		}
	}
	return requested, true
}

// exchangeCode redeems an authorization code (OAuth 2.1 §4.1.3).
func (s *Server) exchangeCode(ctx context.Context, c *client, tr *tokenRequest) (*tokenResponse, *oauthError) {
	now := s.now()
	ac, err := s.store.RedeemAuthCode(ctx, s.secrets.hash(kindCode, tr.code), now)
	switch {
	case errors.Is(err, store.ErrAlreadyUsed):
		// RFC 6749 §4.1.2 / OAuth 2.1 §4.1.3: a replayed code revokes what it issued.
		if rerr := s.store.RevokeGrant(ctx, ac.GrantID, now); rerr != nil {
			return nil, internalError(rerr)
		}
		s.audit(ctx, "code.replay", "client_id", c.id, "grant_id", ac.GrantID)
		return nil, newError(errInvalidGrant, "the authorization code has already been used; the tokens it issued are revoked")
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRevoked):
		return nil, newError(errInvalidGrant, "the authorization code is invalid or revoked")
	case err != nil:
		return nil, internalError(err)
	}
	switch {
	case ac.ClientID != c.id:
		return nil, newError(errInvalidGrant, "the authorization code was issued to another client")
	case !ac.ExpiresAt.After(now):
		return nil, newError(errInvalidGrant, "the authorization code has expired")
	case ac.RedirectURI != "" && tr.redirectURI != ac.RedirectURI:
		return nil, newError(errInvalidGrant, "redirect_uri differs from the authorization request")
	case ac.RedirectURI == "" && tr.redirectURI != "" && !slices.Contains(c.meta.RedirectURIs, tr.redirectURI):
		return nil, newError(errInvalidGrant, "redirect_uri is not registered for this client")
	case !verifyPKCE(tr.codeVerifier, ac.CodeChallenge):
		return nil, newError(errInvalidGrant, "code_verifier does not match the code_challenge")
	}
	audience, ok := narrow(tr.resources, ac.Resources)
	if !ok {
		return nil, newError(errInvalidTarget, "resource was not part of the authorization request")
	}
	scopes, ok := narrow(tr.scopes, ac.Scopes)
	if !ok {
		return nil, newError(errInvalidScope, "scope exceeds what was authorized")
	}
	g, err := s.store.GetGrant(ctx, ac.GrantID)
	if err != nil {
		return nil, internalError(err)
	}
	resp, err := s.mintAccessToken(ctx, c, g, scopes, audience)
	if err != nil {
		return nil, internalError(err)
	}
	if err := s.addRefreshToken(ctx, c, g, now, resp); err != nil {
		return nil, internalError(err)
	}
	return resp, nil
}

// addRefreshToken starts the refresh token family of grant g in resp, for clients registered
// for the refresh_token grant (first token of a code or device grant).
func (s *Server) addRefreshToken(ctx context.Context, c *client, g *store.Grant, now time.Time, resp *tokenResponse) error {
	if !c.hasGrant(GrantRefreshToken) {
		return nil
	}
	rt, key := s.newRefreshToken(now)
	err := s.store.CreateRefreshToken(ctx, &store.RefreshToken{
		Hash: key, GrantID: g.ID, ClientID: c.id, CreatedAt: now,
		ExpiresAt: s.refreshExpiry(now, g.ExpiresAt),
	})
	if err != nil {
		return err
	}
	resp.RefreshToken = rt
	return nil
}

// refreshExpiry is the expiry of a new refresh token: its idle lifetime, within the grant's.
func (s *Server) refreshExpiry(now, grantExpiry time.Time) time.Time {
	exp := now.Add(s.cfg.RefreshTokenTTL)
	if !grantExpiry.IsZero() && grantExpiry.Before(exp) {
		return grantExpiry
	}
	return exp
}

// refresh rotates a refresh token (OAuth 2.1 §4.3): the old one is spent, a new one returned.
//
// The rotation, the one write, is the last step that can fail: a failure before or in it
// leaves the old refresh token valid for a retry, instead of spending it and turning the
// client's retry into reuse that revokes the family. So the signing key is chosen first (which
// may reload or add keys: store reads and writes, which must not run inside the rotation's
// write either), the store's rotation reads the token and asks refreshDecision, and the access
// token is signed with the chosen key once the rotation is done, which cannot fail: the key is
// a valid P-256 key and crypto/rand does not fail. Nothing is audited for a refused rotation.
func (s *Server) refresh(ctx context.Context, c *client, tr *tokenRequest) (*tokenResponse, *oauthError) {
	now := s.now()
	key, err := s.keys.signer(ctx)
	if err != nil {
		return nil, internalError(err)
	}
	next, nextKey := s.newRefreshToken(now)
	var grant *store.Grant
	var scopes, audience []string
	err = s.store.RotateRefreshToken(ctx, s.refreshTokenKey(tr.refreshToken), now,
		func(rt *store.RefreshToken, g *store.Grant) (*store.RefreshToken, error) {
			grant = g
			var e *oauthError
			if scopes, audience, e = s.refreshDecision(c, tr, rt, g, now); e != nil {
				return nil, e
			}
			return &store.RefreshToken{Hash: nextKey, ClientID: c.id, CreatedAt: now, ExpiresAt: s.refreshExpiry(now, g.ExpiresAt)}, nil
		})
	var refused *oauthError
	switch {
	case errors.As(err, &refused):
		return nil, refused
	case errors.Is(err, store.ErrNotFound):
		return nil, newError(errInvalidGrant, "the refresh token is invalid")
	case errors.Is(err, store.ErrAlreadyUsed):
		// A rotated token presented again, or the loser of a race with another use of it: the
		// store has revoked the grant, and with it every token of the family.
		s.audit(ctx, "refresh.reuse", "client_id", c.id, "grant_id", grant.ID)
		return nil, newError(errInvalidGrant, "the refresh token has already been used; every token of this grant is revoked")
	case errors.Is(err, store.ErrRevoked):
		return nil, newError(errInvalidGrant, "the refresh token has been revoked")
	case err != nil:
		return nil, internalError(err)
	}
	resp, err := s.mintAccessTokenWith(ctx, key, c, grant, scopes, audience)
	if err != nil {
		return nil, internalError(err)
	}
	resp.RefreshToken = next
	return resp, nil
}

// refreshDecision judges the rotation of refresh token rt of grant g, presented by client c
// (store.RotationDecision), and returns the scopes and audience of the next access token. It
// runs inside the store's rotation, so it only reads what it is given and the server's
// configuration. A used token or a revoked grant passes once the client is right: the store
// refuses those itself, revoking the grant of a reused token.
func (s *Server) refreshDecision(c *client, tr *tokenRequest, rt *store.RefreshToken, g *store.Grant, now time.Time) (scopes, audience []string, e *oauthError) {
	switch {
	case rt.ClientID != c.id:
		return nil, nil, newError(errInvalidGrant, "the refresh token was issued to another client")
	case !rt.UsedAt.IsZero() || !g.RevokedAt.IsZero():
		return nil, nil, nil
	case !rt.ExpiresAt.After(now) || !g.ExpiresAt.After(now):
		return nil, nil, newError(errInvalidGrant, "the refresh token has expired")
	case !c.hasGrant(GrantRefreshToken):
		return nil, nil, newError(errUnauthorizedClient, "this client is not registered for the refresh_token grant")
	}
	audience, ok := narrow(tr.resources, g.Resources)
	if !ok {
		return nil, nil, newError(errInvalidTarget, "resource is outside the original grant")
	}
	scopes, ok = narrow(tr.scopes, g.Scopes)
	if !ok {
		return nil, nil, newError(errInvalidScope, "scope is outside the original grant")
	}
	// Since the grant, a resource may no longer be served, and the user or the client may have
	// lost scopes (or the user the account): a refresh never outlives that.
	for _, r := range audience {
		if _, ok := s.resources[r]; !ok {
			return nil, nil, newError(errInvalidTarget, "resource "+truncate(r)+" is no longer served")
		}
	}
	if g.SubjectScopes == nil {
		return nil, nil, newError(errInvalidGrant, "the user no longer exists")
	}
	limit := c.allowedScopes()
	scopes = slices.DeleteFunc(slices.Clone(scopes), func(sc string) bool {
		return !slices.Contains(g.SubjectScopes, sc) || limit != nil && !slices.Contains(limit, sc)
	})
	return scopes, audience, nil
}

// clientCredentials issues a token to a confidential pre-registered client acting for itself
// (OAuth 2.1 §4.2).
func (s *Server) clientCredentials(ctx context.Context, c *client, tr *tokenRequest) (*tokenResponse, *oauthError) {
	if c.public() || c.kind != store.ClientStatic || !c.hasGrant(GrantClientCredentials) {
		return nil, newError(errUnauthorizedClient, "client_credentials is only for confidential pre-registered clients registered for it")
	}
	resources, e := s.checkResources(tr.resources)
	if e != nil {
		return nil, e
	}
	req := &authRequest{client: c, resources: resources}
	if e := s.checkScopes(req, tr.scope); e != nil {
		return nil, e
	}
	// No grant record: the grant is the client itself, so deleting the client ends it.
	resp, err := s.mintAccessToken(ctx, c, nil, req.scopes, resources)
	if err != nil {
		return nil, internalError(err)
	}
	return resp, nil
}

// mintAccessToken signs an access token of grant g (nil for client_credentials: the client acts
// for itself) for the audience, with the current signing key. Nothing is written: the token is
// self-contained, and its grant, client and jti are checked at introspection.
func (s *Server) mintAccessToken(ctx context.Context, c *client, g *store.Grant, scopes, audience []string) (*tokenResponse, error) {
	key, err := s.keys.signer(ctx)
	if err != nil {
		return nil, err
	}
	return s.mintAccessTokenWith(ctx, key, c, g, scopes, audience)
}

// mintAccessTokenWith is mintAccessToken with the signing key chosen by the caller.
func (s *Server) mintAccessTokenWith(ctx context.Context, key *signingKey, c *client, g *store.Grant, scopes, audience []string) (*tokenResponse, error) {
	now := s.now()
	dates := &[3]jwt.NumericDate{numericDate(now.Add(s.cfg.AccessTokenTTL)), numericDate(now), numericDate(now)} // one allocation
	claims := &accessClaims{
		Issuer: s.cfg.Issuer, Subject: c.id, Audience: audience, ClientID: c.id, Scope: strings.Join(scopes, " "),
		Expiry: &dates[0], IssuedAt: &dates[1], NotBefore: &dates[2], ID: randomToken(16), QuotaTier: c.quotaTier(),
	}
	if g != nil {
		claims.Subject, claims.GrantID = g.Subject, g.ID
	}
	tok, err := signAccessToken(key, claims)
	if err != nil {
		return nil, err
	}
	s.auditTokenIssued(ctx, claims)
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessTokenTTL.Seconds()), Scope: claims.Scope}, nil
}
