// The consent step of the authorization endpoint, where the resource owner grants or denies the
// client's request (RFC 6749 §4.1.1): the user sees the client's name, where they will be sent
// (and a warning when that is only this computer), and the scopes, and allows or denies, in a
// CSRF-protected form (RFC 9700 §4.7). Consent is remembered per user, client and scopes, so one
// client's consent never serves another (MCP security best practices, "Confused Deputy Problem").
package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// consentPage shows the consent form for req.
func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, req *authRequest, u *store.User, granted, refused []string) {
	d := &pageData{
		Title: "Authorize " + req.client.name(), Action: s.issuer.Path + pathConsent, LogoutAction: s.issuer.Path + pathLogout,
		CSRF:    s.csrfToken(w, r),
		Request: req.query.Encode(), ClientName: req.client.name(), Username: u.Username,
		Scopes: granted, Refused: refused, Resources: req.resources, RedirectHost: redirectHost(req.redirectURI),
		LocalhostOnly: localhostOnly(req.client.meta.RedirectURIs), SelfRegistered: req.client.kind == store.ClientDynamic,
	}
	if req.client.kind == ClientKindCIMD {
		d.ClientURL = req.client.id
	}
	s.renderPage(w, r, http.StatusOK, "consent.html", d)
}

// redirectHost is what the user is told about the redirect URI: its host, or its scheme for a
// private-use URI scheme.
func redirectHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	if u.Host != "" {
		return u.Host
	}
	return u.Scheme + ":"
}

// localhostOnly reports whether every redirect URI points to this computer.
func localhostOnly(uris []string) bool {
	return len(uris) > 0 && !slices.ContainsFunc(uris, func(uri string) bool {
		u, err := url.Parse(uri)
		return err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname())
	})
}

// handleConsent is POST /consent.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	req := s.formRequest(w, r)
	if req == nil {
		return
	}
	u, err := s.sessionUser(r)
	if err != nil {
		s.serverError(w, r, "load session", err)
		return
	}
	if u == nil {
		s.loginPage(w, r, req, "Your session has ended. Sign in again.", "")
		return
	}
	granted, _ := grantable(req, u)
	switch r.PostForm.Get("action") {
	case "approve":
	case "deny":
		s.audit(r.Context(), "consent.denied", "user_id", u.ID, "client_id", req.client.id)
		s.redirectError(w, r, req, newError(errAccessDenied, "the user denied the request"))
		return
	default:
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "Choose Allow or Deny.")
		return
	}
	if len(granted) == 0 && len(req.scopes) > 0 {
		s.redirectError(w, r, req, newError(errAccessDenied, "the user may not grant any of the requested scopes"))
		return
	}
	prior, err := s.store.GetConsent(r.Context(), u.ID, req.client.id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(w, r, "load consent", err)
		return
	}
	all := slices.Clone(prior)
	for _, sc := range granted {
		if !slices.Contains(all, sc) {
			all = append(all, sc)
		}
	}
	if all == nil {
		all = []string{}
	}
	if err := s.store.SaveConsent(r.Context(), u.ID, req.client.id, all, s.now()); err != nil {
		s.serverError(w, r, "save consent", err)
		return
	}
	s.audit(r.Context(), "consent.granted", "user_id", u.ID, "client_id", req.client.id, "scope", strings.Join(granted, " "))
	s.respondWithCode(w, r, req, u, granted)
}
