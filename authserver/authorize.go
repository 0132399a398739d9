// The authorization endpoint: OAuth 2.1 §4.1.1 (authorization code with PKCE), RFC 8707 §2
// (resource), RFC 9207 (iss in every authorization response, errors included), and the login
// and consent steps between request and response.
package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// authRequest is a validated authorization request.
type authRequest struct {
	query       url.Values // the request as received, carried through the login and consent forms
	client      *client
	redirectURI string // where the response goes
	// givenRedirectURI is the redirect_uri parameter as sent ("" if absent); the token request
	// must repeat it (RFC 6749 §4.1.3).
	givenRedirectURI string
	state            string
	challenge        string
	resources        []string
	scopes           []string // requested, within what the resources and the client allow
	scopeRequested   bool     // whether the client named scopes (else scopes is the default)
	prompt           string
}

// pageError is an authorization error shown to the user instead of being redirected, because
// the client or its redirect URI cannot be trusted (RFC 6749 §4.1.2.1).
type pageError struct {
	status         int
	title, message string
}

// parseAuthRequest validates an authorization request. A pageError means the user sees it; an
// oauthError goes to the client's redirect URI (the returned request has it).
func (s *Server) parseAuthRequest(ctx context.Context, q url.Values) (*authRequest, *pageError, *oauthError) {
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(q[p]) > 1 {
			return nil, &pageError{http.StatusBadRequest, "Invalid request", fmt.Sprintf("The parameter %s appears more than once.", p)}, nil
		}
	}
	c, err := s.lookupClient(ctx, q.Get("client_id"))
	if err != nil {
		if errors.Is(err, errUnknownClient) {
			s.audit(ctx, "authorize.refused", "client_id", logID(q.Get("client_id")), "reason", err.Error())
			return nil, &pageError{http.StatusBadRequest, "Unknown application", "The application that sent you here is not registered with this server (" + err.Error() + ")."}, nil
		}
		s.log.ErrorContext(ctx, "authserver: look up client", "err", err)
		return nil, &pageError{http.StatusInternalServerError, "Server error", "The server could not look up the application. Try again later."}, nil
	}
	req := &authRequest{query: q, client: c, givenRedirectURI: q.Get("redirect_uri"), state: q.Get("state")}
	switch {
	case req.givenRedirectURI != "":
		if !slices.ContainsFunc(c.meta.RedirectURIs, func(reg string) bool { return RedirectURIMatches(reg, req.givenRedirectURI) }) {
			s.audit(ctx, "authorize.refused", "client_id", c.id, "reason", "redirect_uri not registered")
			return nil, &pageError{http.StatusBadRequest, "Invalid redirect", "The application asked to send you to an address it has not registered. For your safety you were not sent there."}, nil
		}
		req.redirectURI = req.givenRedirectURI
	case len(c.meta.RedirectURIs) == 1:
		req.redirectURI = c.meta.RedirectURIs[0]
	default:
		return nil, &pageError{http.StatusBadRequest, "Invalid request", "The application did not say where to send you back (redirect_uri is missing)."}, nil
	}
	// From here on errors are redirected to the client.
	for p, v := range q {
		if len(v) > 1 && p != "resource" {
			return req, nil, newError(errInvalidRequest, "parameter "+truncate(p)+" appears more than once")
		}
	}
	if q.Get("response_type") != ResponseTypeCode {
		return req, nil, newError(errUnsupportedResponseType, "response_type must be code")
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return req, nil, newError(errInvalidRequest, "response_mode must be query")
	}
	if !c.hasGrant(GrantAuthorizationCode) {
		return req, nil, newError(errUnauthorizedClient, "this client is not registered for the authorization_code grant")
	}
	if e := checkCodeChallenge(q.Get("code_challenge"), q.Get("code_challenge_method")); e != nil {
		return req, nil, e
	}
	req.challenge = q.Get("code_challenge")
	if q.Has("request") || q.Has("request_uri") {
		return req, nil, newError("request_not_supported", "request objects are not supported")
	}
	var e *oauthError
	if req.resources, e = s.checkResources(q["resource"]); e != nil {
		return req, nil, e
	}
	if e := s.checkScopes(req, q.Get("scope")); e != nil {
		return req, nil, e
	}
	switch req.prompt = q.Get("prompt"); req.prompt {
	case "", "none", "login", "consent":
	default:
		return req, nil, newError(errInvalidRequest, "prompt must be none, login or consent")
	}
	return req, nil, nil
}

// checkResources checks RFC 8707 resource values against the resources this server serves.
// With none given it uses the only resource when there is exactly one.
func (s *Server) checkResources(given []string) ([]string, *oauthError) {
	if len(given) == 0 {
		if len(s.cfg.Resources) == 1 {
			return []string{s.cfg.Resources[0].URI}, nil
		}
		return nil, newError(errInvalidTarget, "resource is required: this server serves several resources")
	}
	var out []string
	for _, r := range given {
		if _, ok := s.resources[r]; !ok {
			return nil, newError(errInvalidTarget, fmt.Sprintf("this server does not issue tokens for resource %q", truncate(r)))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// offlineAccess is accepted in a scope parameter (clients send it to ask for a refresh token)
// and otherwise ignored: refresh tokens go to every client registered for the refresh_token
// grant.
const offlineAccess = "offline_access"

// checkScopes checks the scope parameter (RFC 6749 §3.3) against the scopes of the requested
// resources and the client's limit; without one, the default is all of those.
func (s *Server) checkScopes(req *authRequest, scope string) *oauthError {
	available := s.resourcesScopes(req.resources)
	limit := req.client.allowedScopes()
	requested, err := parseScope(scope)
	if err != nil {
		return err
	}
	if len(requested) == 0 {
		for _, sc := range available {
			if limit == nil || slices.Contains(limit, sc) {
				req.scopes = append(req.scopes, sc)
			}
		}
		return nil
	}
	req.scopeRequested = true
	for _, sc := range requested {
		switch {
		case !slices.Contains(available, sc):
			return newError(errInvalidScope, fmt.Sprintf("scope %q is not offered by the requested resource", truncate(sc)))
		case limit != nil && !slices.Contains(limit, sc):
			return newError(errInvalidScope, fmt.Sprintf("this client may not request scope %q", truncate(sc)))
		}
		req.scopes = append(req.scopes, sc)
	}
	return nil
}

// parseScope splits a scope parameter, dropping duplicates and offline_access.
func parseScope(scope string) ([]string, *oauthError) {
	var out []string
	for _, sc := range strings.Split(scope, " ") {
		if sc == "" || sc == offlineAccess || slices.Contains(out, sc) {
			continue
		}
		if !validScopeToken(sc) {
			return nil, newError(errInvalidScope, "scope must be space-separated scope tokens")
		}
		out = append(out, sc)
	}
	return out, nil
}

// grantable splits the requested scopes into those the user may grant and those they may not.
func grantable(req *authRequest, u *store.User) (granted, refused []string) {
	for _, sc := range req.scopes {
		if slices.Contains(u.Scopes, sc) {
			granted = append(granted, sc)
		} else {
			refused = append(refused, sc)
		}
	}
	return granted, refused
}

// redirect sends the authorization response to the client: params plus state and iss.
func (s *Server) redirect(w http.ResponseWriter, req *authRequest, params url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil { // registered redirect URIs are validated; this cannot happen
		http.Error(w, "invalid redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	q.Set("iss", s.cfg.Issuer) // RFC 9207 §2
	u.RawQuery = q.Encode()
	w.Header().Set("Location", u.String())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusFound)
}

// redirectError sends an error authorization response (RFC 6749 §4.1.2.1).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, e *oauthError) {
	s.audit(r.Context(), "authorize.refused", "client_id", req.client.id, "error", e.Code, "reason", e.Description)
	params := url.Values{"error": {e.Code}}
	if e.Description != "" {
		params.Set("error_description", e.Description)
	}
	s.redirect(w, req, params)
}

// handleAuthorize is GET /authorize.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req, pe, oe := s.parseAuthRequest(r.Context(), r.URL.Query())
	switch {
	case pe != nil:
		s.errorPage(w, r, pe.status, pe.title, pe.message)
		return
	case oe != nil:
		s.redirectError(w, r, req, oe)
		return
	}
	if s.devUser != nil {
		s.devLogin(w, r, req)
		return
	}
	u, err := s.sessionUser(r)
	if err != nil {
		s.serverError(w, r, "load session", err)
		return
	}
	if u == nil || req.prompt == "login" {
		if req.prompt == "none" {
			s.redirectError(w, r, req, newError(errLoginRequired, "the user is not signed in"))
			return
		}
		s.loginPage(w, r, req, "", "")
		return
	}
	s.afterLogin(w, r, req, u)
}

// afterLogin continues an authorization request for a signed-in user: straight to the client
// when the user already consented to these scopes for this client, else to the consent page.
func (s *Server) afterLogin(w http.ResponseWriter, r *http.Request, req *authRequest, u *store.User) {
	granted, refused := grantable(req, u)
	if len(granted) == 0 && len(refused) > 0 {
		s.redirectError(w, r, req, newError(errAccessDenied, "the user may not grant any of the requested scopes"))
		return
	}
	if req.prompt != "consent" {
		prior, err := s.store.GetConsent(r.Context(), u.ID, req.client.id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.serverError(w, r, "load consent", err)
			return
		}
		if err == nil && !slices.ContainsFunc(granted, func(sc string) bool { return !slices.Contains(prior, sc) }) {
			s.respondWithCode(w, r, req, u, granted)
			return
		}
	}
	if req.prompt == "none" {
		s.redirectError(w, r, req, newError(errConsentRequired, "the user has not consented to these scopes"))
		return
	}
	s.consentPage(w, r, req, u, granted, refused)
}

// respondWithCode issues an authorization code for the granted scopes and redirects.
func (s *Server) respondWithCode(w http.ResponseWriter, r *http.Request, req *authRequest, u *store.User, scopes []string) {
	code, grantID, err := s.issueCode(r.Context(), req, u, scopes)
	if err != nil {
		s.serverError(w, r, "issue authorization code", err)
		return
	}
	s.audit(r.Context(), "code.issued", "client_id", req.client.id, "user_id", u.ID, "grant_id", grantID,
		"scope", strings.Join(scopes, " "), "resource", req.resources)
	s.redirect(w, req, url.Values{"code": {code}})
}

// issueCode stores a new grant with its authorization code and returns the code.
func (s *Server) issueCode(ctx context.Context, req *authRequest, u *store.User, scopes []string) (code, grantID string, err error) {
	now := s.now()
	if scopes == nil {
		scopes = []string{}
	}
	code = newSecret("mac_")
	g := &store.Grant{
		ID: "g_" + randomToken(16), ClientID: req.client.id, Subject: u.ID, Scopes: scopes, Resources: req.resources,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.GrantTTL),
	}
	c := &store.AuthCode{
		Hash: s.secrets.hash(kindCode, code), GrantID: g.ID, ClientID: req.client.id, Subject: u.ID,
		RedirectURI: req.givenRedirectURI, CodeChallenge: req.challenge, Scopes: scopes, Resources: req.resources,
		CreatedAt: now, ExpiresAt: now.Add(s.cfg.CodeTTL),
	}
	if err := s.store.CreateAuthCode(ctx, g, c); err != nil {
		return "", "", err
	}
	return code, g.ID, nil
}

// formRequest reads a login or consent form: it must carry a valid CSRF token and the original
// authorization request, which is validated again in full.
func (s *Server) formRequest(w http.ResponseWriter, r *http.Request) *authRequest {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "The form could not be read.")
		return nil
	}
	if !s.checkCSRF(r) {
		s.audit(r.Context(), "form.refused", "reason", "csrf", "path", r.URL.Path)
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Go back to the application and start again.")
		return nil
	}
	q, err := url.ParseQuery(r.PostForm.Get("request"))
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "The authorization request in the form is malformed.")
		return nil
	}
	req, pe, oe := s.parseAuthRequest(r.Context(), q)
	switch {
	case pe != nil:
		s.errorPage(w, r, pe.status, pe.title, pe.message)
		return nil
	case oe != nil:
		s.redirectError(w, r, req, oe)
		return nil
	}
	return req
}
