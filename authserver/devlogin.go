// Dev login: a development mode in which a valid authorization request is approved at once for
// one configured user, so demos and tests run without a browser. Every check of the request
// (client, redirect URI, PKCE, resource, scope) still applies; only login and consent are
// skipped. It is refused unless the server listens on loopback only.
package authserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// checkDevLogin enforces the loopback-only rule and returns the dev user, creating it (with
// every scope and an unusable random password) when it does not exist.
func (s *Server) checkDevLogin(ctx context.Context) (*store.User, error) {
	if s.cfg.ListenAddr == "" || !IsLoopbackAddr(s.cfg.ListenAddr) {
		return nil, fmt.Errorf("authserver: dev login needs a loopback listen address (127.0.0.1, [::1] or localhost), not %q", s.cfg.ListenAddr)
	}
	if !isLoopbackHost(s.issuer.Hostname()) {
		return nil, fmt.Errorf("authserver: dev login needs a loopback issuer, not %q", s.cfg.Issuer)
	}
	u, err := s.store.GetUserByName(ctx, s.cfg.DevLoginUser)
	if errors.Is(err, store.ErrNotFound) {
		u, err = s.Admin().AddUser(ctx, s.cfg.DevLoginUser, randomToken(24), s.allScopes())
		if errors.Is(err, store.ErrConflict) { // another instance on this store made it first
			u, err = s.store.GetUserByName(ctx, s.cfg.DevLoginUser)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("authserver: dev login user: %w", err)
	}
	s.log.Warn("authserver: DEV LOGIN IS ON: every valid authorization request is approved as user "+u.Username+
		" without a password. Never use this outside local development.", "user", u.Username, "listen", s.cfg.ListenAddr)
	return u, nil
}

// devLogin approves a validated request as the dev user.
func (s *Server) devLogin(w http.ResponseWriter, r *http.Request, req *authRequest) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		s.errorPage(w, r, http.StatusForbidden, "Dev login refused", "Dev login only answers requests from this computer.")
		return
	}
	granted, refused := grantable(req, s.devUser)
	if len(granted) == 0 && len(refused) > 0 {
		s.redirectError(w, r, req, newError(errAccessDenied, "the dev user may not grant any of the requested scopes"))
		return
	}
	s.respondWithCode(w, r, req, s.devUser, granted)
}
