// Token introspection: RFC 7662, for resource servers that authenticate as confidential
// pre-registered clients. A token is active while it is unexpired and neither it nor its grant
// has been revoked; a client_credentials token, whose grant is its client, while the client is
// registered.
package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       []string `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
	QuotaTier string   `json:"quota_tier,omitempty"`
}

// handleIntrospect is POST /introspect.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	c := s.clientRequest(w, r)
	if c == nil {
		return
	}
	// §4: only authorized protected resources may introspect, or tokens could be scanned.
	if c.public() || c.kind != store.ClientStatic {
		s.audit(r.Context(), "introspect.refused", "client_id", c.id)
		writeJSON(w, http.StatusForbidden, newError(errUnauthorizedClient, "only confidential pre-registered clients (resource servers) may introspect tokens"))
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeError(w, r, newError(errInvalidRequest, "token is required"))
		return
	}
	resp, err := s.introspect(r, tok)
	if err != nil {
		s.serverError(w, r, "introspect", err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// introspect describes tok, an access token or a refresh token.
func (s *Server) introspect(r *http.Request, tok string) (*introspection, error) {
	ctx := r.Context()
	inactive := &introspection{Active: false}
	if claims, err := s.parseAccessToken(ctx, tok); err == nil {
		if active, err := s.accessTokenActive(ctx, claims); err != nil || !active {
			return inactive, err
		}
		resp := &introspection{
			Active: true, Scope: claims.Scope, ClientID: claims.ClientID, TokenType: "Bearer", Exp: claims.Expiry.Time().Unix(),
			Iat: claims.IssuedAt.Time().Unix(), Sub: claims.Subject, Aud: claims.Audience, Iss: claims.Issuer, JTI: claims.ID,
			QuotaTier: claims.QuotaTier,
		}
		if claims.NotBefore != nil {
			resp.Nbf = claims.NotBefore.Time().Unix()
		}
		resp.Username = s.username(r, claims.Subject)
		return resp, nil
	}
	rt, g, err := s.store.GetRefreshToken(ctx, s.refreshTokenKey(tok))
	if errors.Is(err, store.ErrNotFound) {
		return inactive, nil
	} else if err != nil {
		return nil, err
	}
	if !rt.UsedAt.IsZero() || !rt.ExpiresAt.After(s.now()) || !g.RevokedAt.IsZero() || !g.ExpiresAt.After(s.now()) {
		return inactive, nil
	}
	return &introspection{
		Active: true, Scope: strings.Join(g.Scopes, " "), ClientID: rt.ClientID, TokenType: "refresh_token",
		Exp: rt.ExpiresAt.Unix(), Iat: rt.CreatedAt.Unix(), Sub: g.Subject, Aud: g.Resources, Iss: s.cfg.Issuer,
		Username: s.username(r, g.Subject),
	}, nil
}

// accessTokenActive reports whether an access token with a valid signature and expiry is in
// force: its jti was not revoked, and its grant was not revoked or, for client_credentials
// (no grant ID; the subject is the client), its client is still registered. A token issued
// before tokens named their grant has neither and is inactive.
func (s *Server) accessTokenActive(ctx context.Context, claims *accessClaims) (bool, error) {
	if revoked, err := s.store.AccessTokenRevoked(ctx, claims.ID); err != nil || revoked {
		return false, err
	}
	if claims.GrantID == "" {
		if claims.Subject != claims.ClientID || IsURLClientID(claims.ClientID) {
			return false, nil
		}
		c, err := s.lookupClient(ctx, claims.ClientID)
		if errors.Is(err, errUnknownClient) {
			return false, nil
		}
		return err == nil && c.kind == store.ClientStatic, err
	}
	g, err := s.store.GetGrant(ctx, claims.GrantID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return g.RevokedAt.IsZero() && g.ClientID == claims.ClientID, nil
}

// username returns the username of a subject, "" for a client or an unknown user.
func (s *Server) username(r *http.Request, sub string) string {
	if u, err := s.store.GetUser(r.Context(), sub); err == nil {
		return u.Username
	}
	return ""
}
