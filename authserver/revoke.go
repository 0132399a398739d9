// Token revocation: RFC 7009. Revoking a refresh token revokes its whole grant (§2.1: "SHOULD
// also invalidate all access tokens based on the same authorization grant"); revoking an access
// token records its jti until it expires, and introspection then reports it inactive.
package authserver

import (
	"errors"
	"net/http"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// handleRevoke is POST /revoke.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	c := s.clientRequest(w, r)
	if c == nil {
		return
	}
	tok := r.PostForm.Get("token")
	if tok == "" {
		writeError(w, r, newError(errInvalidRequest, "token is required"))
		return
	}
	ctx := r.Context()
	now := s.now()
	// The token_type_hint only speeds up the search (§2.1); both kinds are tried.
	rt, _, err := s.store.GetRefreshToken(ctx, s.refreshTokenKey(tok))
	switch {
	case err == nil:
		if rt.ClientID != c.id {
			writeError(w, r, newError(errInvalidRequest, "the token was not issued to this client"))
			return
		}
		if err := s.store.RevokeGrant(ctx, rt.GrantID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.serverError(w, r, "revoke grant", err)
			return
		}
		s.audit(ctx, "token.revoked", "client_id", c.id, "grant_id", rt.GrantID, "token_type", "refresh_token")
	case !errors.Is(err, store.ErrNotFound):
		s.serverError(w, r, "look up refresh token", err)
		return
	default:
		claims, err := s.parseAccessToken(ctx, tok)
		if err != nil {
			break // unknown, invalid or expired: nothing to do (§2.2)
		}
		if claims.ClientID != c.id {
			writeError(w, r, newError(errInvalidRequest, "the token was not issued to this client"))
			return
		}
		if err := s.store.RevokeAccessToken(ctx, claims.ID, claims.Expiry.Time()); err != nil {
			s.serverError(w, r, "revoke access token", err)
			return
		}
		s.audit(ctx, "token.revoked", "client_id", c.id, "jti", claims.ID, "token_type", "access_token")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
