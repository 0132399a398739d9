// The login step of the authorization endpoint: a username and password form (no JavaScript),
// CSRF-protected, rate-limited per source address and locked per account after repeated wrong
// passwords (ratelimit.go), checked against argon2id hashes.
package authserver

import (
	"net/http"
	"unicode/utf8"
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
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if !s.loginLim.allow(s.clientAddr(r)) {
		s.audit(r.Context(), "login.refused", "reason", "rate limit", "remote", s.clientAddr(r))
		w.Header().Set("Retry-After", "60")
		s.renderLogin(w, r, req, http.StatusTooManyRequests, "Too many sign-in attempts from your network. Wait a minute and try again.", username)
		return
	}
	if username == "" || password == "" || len(username) > 200 || len(password) > 1024 || !utf8.ValidString(username) {
		s.loginPage(w, r, req, "Enter your username and password.", "")
		return
	}
	u, err := s.signIn(r.Context(), r, username, password)
	if err != nil {
		s.serverError(w, r, "authenticate user", err)
		return
	}
	if u == nil {
		// Never the typed username: people type their password there by mistake.
		who := "unknown username"
		if known, err := s.store.GetUserByName(r.Context(), username); err == nil {
			who = known.ID
		}
		s.audit(r.Context(), "login.failed", "user_id", who, "client_id", req.client.id, "remote", s.clientAddr(r))
		s.loginPage(w, r, req, "Wrong username or password.", username)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.serverError(w, r, "start session", err)
		return
	}
	s.audit(r.Context(), "login.succeeded", "user_id", u.ID, "client_id", req.client.id)
	if req.prompt == "login" { // satisfied now; do not ask again on the consent form
		req.prompt = ""
		req.query.Del("prompt")
	}
	s.afterLogin(w, r, req, u)
}
