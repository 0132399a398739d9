// The login step of the authorization endpoint, where the authorization server authenticates
// the resource owner (RFC 6749 §3.1, OAuth 2.1 §4.1.1): a username and password form (no
// JavaScript), CSRF-protected, rate-limited per source address (ratelimit.go), locked after
// repeated wrong passwords (lockout.go), checked against argon2id hashes (users.go).
package authserver

import (
	"net/http"
	"unicode/utf8"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// loginPage shows the login form for req, with an optional message and username to refill.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request, req *authRequest, message, username string) {
	status := http.StatusOK
	if message != "" {
		status = http.StatusUnauthorized
	}
	s.renderLogin(w, r, req, status, message, username)
}

// renderLogin shows the login form with the given status.
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, req *authRequest, status int, message, username string) {
	s.renderPage(w, r, status, "login.html", &pageData{
		Title: "Sign in", Message: message, Action: s.issuer.Path + pathLogin, CSRF: s.csrfToken(w, r),
		Request: req.query.Encode(), ClientName: req.client.name(), Username: username,
	})
}

// handleLogin is POST /login.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	req := s.formRequest(w, r)
	if req == nil {
		return
	}
	u := s.formSignIn(w, r, "login page", req.client.id, func(status int, message, username string) {
		s.renderLogin(w, r, req, status, message, username)
	})
	if u == nil {
		return
	}
	if req.prompt == "login" { // satisfied now; do not ask again on the consent form
		req.prompt = ""
		req.query.Del("prompt")
	}
	s.afterLogin(w, r, req, u)
}

// formSignIn signs in with the username and password of a form r posted at the login or device
// page (via), for the client clientID when known: the per-address rate limit, then signIn, then
// a new session. It returns the user, or nil when it has answered: a server error, or a refusal
// shown by again(status, message, username to refill).
func (s *Server) formSignIn(w http.ResponseWriter, r *http.Request, via, clientID string, again func(status int, message, username string)) *store.User {
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if counted, wait, err := s.loginLim.take(r.Context(), s.clientAddr(r)); err != nil {
		s.serverError(w, r, "count a sign-in attempt", err)
		return nil
	} else if !counted {
		s.audit(r.Context(), "login.refused", "reason", "rate limit", "via", via, "remote", s.clientAddr(r))
		setRetryAfter(w, wait)
		again(http.StatusTooManyRequests, "Too many sign-in attempts from your network. Wait a minute and try again.", username)
		return nil
	}
	if username == "" || password == "" || len(username) > 200 || len(password) > 1024 || !utf8.ValidString(username) {
		again(http.StatusUnauthorized, "Enter your username and password.", "")
		return nil
	}
	u, ok, err := s.signIn(r.Context(), r, username, password)
	if err != nil {
		s.serverError(w, r, "authenticate user", err)
		return nil
	}
	if !ok {
		who := "unknown username" // never the typed username: people type their password there by mistake
		if u != nil {
			who = u.ID
		}
		s.audit(r.Context(), "login.failed", "user_id", who, "client_id", clientID, "via", via, "remote", s.clientAddr(r))
		again(http.StatusUnauthorized, "Wrong username or password.", username)
		return nil
	}
	if err := s.startSession(w, r, u); err != nil {
		s.serverError(w, r, "start session", err)
		return nil
	}
	s.audit(r.Context(), "login.succeeded", "user_id", u.ID, "client_id", clientID, "via", via)
	return u
}
