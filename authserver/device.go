// The device authorization grant (RFC 8628): the device authorization endpoint (§3.1, §3.2),
// the verification page where the user enters the user code, signs in and decides (§3.3),
// and the device_code grant of the token endpoint (§3.4, §3.5). It is offered when the store
// implements store.DeviceStore.
package authserver

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/internal/oauthwire"
)

// GrantDeviceCode is the grant type of the device authorization grant (RFC 8628 §3.4). Clients
// registered for it, or for the authorization code grant, may use it: both act for a user who
// approves.
const GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"

const (
	pathDeviceAuthorization = "/device_authorization"
	pathDevice              = "/device"

	kindDeviceCode = "device-code"
	kindUserCode   = "user-code"

	deviceCodeTTL  = 10 * time.Minute
	devicePollSecs = 5 // the interval (§3.2); polling faster gets slow_down (§3.5)
	// userCodeFailures is how many unknown user codes a signed-in user may enter per minute
	// (burst the same) before the page refuses to look codes up (RFC 8628 §5.1: rate-limit user
	// code attempts). A user enters one code per device; a few typos fit. Per instance.
	userCodeFailures = 10

	errAuthorizationPending = "authorization_pending"
	errSlowDown             = "slow_down"
	errExpiredToken         = "expired_token"
)

// userCodeAlphabet has no vowels (no words) and no look-alikes (RFC 8628 §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// deviceStore returns the store's device support, if any.
func (s *Server) deviceStore() (store.DeviceStore, bool) {
	ds, ok := s.cfg.Store.(store.DeviceStore)
	return ds, ok
}

// newUserCode returns 8 random letters of userCodeAlphabet as XXXX-XXXX (34 bits of entropy;
// with the 10-minute lifetime and userCodeFailures, guessing is impractical, §5.1).
func newUserCode() string {
	b := make([]byte, 8)
	rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return string(out)
}

// normalizeUserCode makes what the user typed comparable: upper case, no dashes or spaces.
func normalizeUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// handleDeviceAuthorization is POST /device_authorization (§3.1): the client authenticates as
// at the token endpoint and names the resource and scopes, checked as for /authorize.
func (s *Server) handleDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	ds, _ := s.deviceStore()
	c := s.clientRequest(w, r)
	if c == nil {
		return
	}
	if !c.hasGrant(GrantDeviceCode) && !c.hasGrant(GrantAuthorizationCode) {
		writeError(w, r, newError(errUnauthorizedClient, "this client may not act for a user"))
		return
	}
	resources, e := s.checkResources(r.PostForm["resource"])
	if e != nil {
		writeError(w, r, e)
		return
	}
	req := &authRequest{client: c, resources: resources}
	if e := s.checkScopes(req, r.PostForm.Get("scope")); e != nil {
		writeError(w, r, e)
		return
	}
	now := s.now()
	deviceCode, userCode := newSecret("mdc_"), newUserCode()
	err := ds.CreateDeviceCode(r.Context(), &store.DeviceCode{
		Hash: s.secrets.hash(kindDeviceCode, deviceCode), UserCodeHash: s.secrets.hash(kindUserCode, normalizeUserCode(userCode)),
		ClientID: c.id, Scopes: append([]string{}, req.scopes...), Resources: resources, CreatedAt: now, ExpiresAt: now.Add(deviceCodeTTL),
	})
	if err != nil {
		s.serverError(w, r, "create device code", err)
		return
	}
	s.audit(r.Context(), "device.authorization", "client_id", c.id, "scope", strings.Join(req.scopes, " "), "resource", resources)
	verify := s.endpoint(pathDevice)
	writeJSON(w, http.StatusOK, &oauthwire.DeviceAuthorizationResponse{
		DeviceCode: deviceCode, UserCode: userCode, VerificationURI: verify,
		VerificationURIComplete: verify + "?user_code=" + userCode,
		ExpiresIn:               int64(deviceCodeTTL / time.Second), Interval: devicePollSecs,
	})
}

// devicePageUser is the signed-in user of the verification page: the session's, or the dev
// login's.
func (s *Server) devicePageUser(r *http.Request) (*store.User, error) {
	if s.devUser != nil {
		return s.devUser, nil
	}
	return s.sessionUser(r)
}

// handleDevicePage is GET /device (§3.3): the form to enter the user code (pre-filled from
// verification_uri_complete) and, without a session, to sign in.
func (s *Server) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	u, err := s.devicePageUser(r)
	if err != nil {
		s.serverError(w, r, "load session", err)
		return
	}
	s.deviceForm(w, r, http.StatusOK, u, "", r.URL.Query().Get("user_code"))
}

// deviceForm renders the code form; the user code travels in pageData.Request.
func (s *Server) deviceForm(w http.ResponseWriter, r *http.Request, status int, u *store.User, message, userCode string) {
	d := &pageData{Title: "Connect a device", Message: message, Action: s.issuer.Path + pathDevice, CSRF: s.csrfToken(w, r), Request: userCode}
	if u != nil {
		d.Username = u.Username
	}
	s.renderPage(w, r, status, "device.html", d)
}

// handleDeviceDecision is POST /device: with action "continue" it checks the user code (and
// signs the user in) and shows what the device asks for; with "approve" or "deny" it records
// the decision, creating the grant on approval.
func (s *Server) handleDeviceDecision(w http.ResponseWriter, r *http.Request) {
	ds, _ := s.deviceStore()
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site. Open the page again.")
		return
	}
	userCode := r.PostForm.Get("user_code")
	u, ok := s.deviceSignIn(w, r, userCode)
	if !ok {
		return
	}
	ctx, now := r.Context(), s.now()
	wait, limited, err := s.userCodeLim.check(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, "read the user code budget", err)
		return
	}
	if limited {
		s.audit(ctx, "device.refused", "user_id", u.ID, "reason", "too many unknown user codes", "remote", s.clientAddr(r))
		setRetryAfter(w, wait)
		s.deviceForm(w, r, http.StatusTooManyRequests, u, "Too many wrong codes. Wait a minute and try again.", "")
		return
	}
	codeHash := s.secrets.hash(kindUserCode, normalizeUserCode(userCode))
	dc, err := ds.GetDeviceCodeByUserCode(ctx, codeHash, now)
	if errors.Is(err, store.ErrNotFound) {
		if _, _, err := s.userCodeLim.take(ctx, u.ID); err != nil {
			s.serverError(w, r, "count an unknown user code", err)
			return
		}
		s.audit(ctx, "device.code_unknown", "user_id", u.ID, "remote", s.clientAddr(r))
		s.deviceForm(w, r, http.StatusBadRequest, u, "This code is unknown or has expired. Check the code your device shows.", "")
		return
	}
	if err != nil {
		s.serverError(w, r, "look up device code", err)
		return
	}
	c, err := s.lookupClient(ctx, dc.ClientID)
	if err != nil {
		s.serverError(w, r, "look up client", err)
		return
	}
	if n := normalizeUserCode(userCode); len(n) == 8 {
		userCode = n[:4] + "-" + n[4:] // shown as the device shows it
	}
	granted := slices.DeleteFunc(slices.Clone(dc.Scopes), func(sc string) bool { return !slices.Contains(u.Scopes, sc) })
	switch r.PostForm.Get("action") {
	case "approve":
		g := &store.Grant{ID: "g_" + randomToken(16), ClientID: c.id, Subject: u.ID, Scopes: granted, Resources: dc.Resources,
			CreatedAt: now, ExpiresAt: now.Add(s.cfg.GrantTTL)}
		if g.Scopes == nil {
			g.Scopes = []string{}
		}
		s.decideDevice(w, r, ds, codeHash, true, u, g, "Device connected", "You may return to your device.")
	case "deny":
		s.decideDevice(w, r, ds, codeHash, false, u, nil, "Request denied", "The device was not given access.")
	default:
		var refused []string
		for _, sc := range dc.Scopes {
			if !slices.Contains(granted, sc) {
				refused = append(refused, sc)
			}
		}
		s.renderPage(w, r, http.StatusOK, "device_consent.html", &pageData{
			Title: "Connect " + c.name(), Action: s.issuer.Path + pathDevice, CSRF: s.csrfToken(w, r), Request: userCode,
			ClientName: c.name(), Username: u.Username, Scopes: granted, Refused: refused, Resources: dc.Resources,
			SelfRegistered: c.kind == store.ClientDynamic,
		})
	}
}

// deviceSignIn returns the signed-in user, signing in with the form's username and password
// when there is no session; on failure it shows the form again and returns false.
func (s *Server) deviceSignIn(w http.ResponseWriter, r *http.Request, userCode string) (*store.User, bool) {
	u, err := s.devicePageUser(r)
	if err != nil {
		s.serverError(w, r, "load session", err)
		return nil, false
	}
	if u != nil {
		return u, true
	}
	u = s.formSignIn(w, r, "device page", "", func(status int, message, _ string) {
		s.deviceForm(w, r, status, nil, message, userCode)
	})
	return u, u != nil
}

// decideDevice records the user's decision and shows the outcome.
func (s *Server) decideDevice(w http.ResponseWriter, r *http.Request, ds store.DeviceStore, codeHash string, approve bool, u *store.User, g *store.Grant, title, message string) {
	err := ds.DecideDeviceCode(r.Context(), codeHash, approve, u.ID, g, s.now())
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyUsed) {
		s.deviceForm(w, r, http.StatusConflict, u, "This code has expired or was already used.", "")
		return
	}
	if err != nil {
		s.serverError(w, r, "decide device code", err)
		return
	}
	event := "device.denied"
	if approve {
		event = "device.approved"
	}
	s.audit(r.Context(), event, "user_id", u.ID)
	s.renderPage(w, r, http.StatusOK, "error.html", &pageData{Title: title, Message: message})
}

// pendingPoll reports the answer to a device token request while the user has not decided:
// the normal state of the grant that clients poll every few seconds (§3.5), so the token
// endpoint does not audit it as a refusal.
func pendingPoll(e *oauthError) bool { return e.Code == errAuthorizationPending }

// deviceToken answers a device_code token request (§3.4, §3.5).
func (s *Server) deviceToken(ctx context.Context, c *client, deviceCode string) (*tokenResponse, *oauthError) {
	ds, ok := s.deviceStore()
	if !ok {
		return nil, newError(errUnsupportedGrantType, "this server does not offer the device authorization grant")
	}
	now := s.now()
	dc, err := ds.PollDeviceCode(ctx, s.secrets.hash(kindDeviceCode, deviceCode), now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, newError(errInvalidGrant, "the device code is invalid")
	case errors.Is(err, store.ErrAlreadyUsed):
		return nil, newError(errInvalidGrant, "the device code has already been used")
	case err != nil:
		return nil, internalError(err)
	case dc.ClientID != c.id:
		return nil, newError(errInvalidGrant, "the device code was issued to another client")
	case dc.DecidedAt.IsZero() && !now.Before(dc.ExpiresAt):
		return nil, newError(errExpiredToken, "the device code has expired")
	case dc.DecidedAt.IsZero() && !dc.LastPolledAt.IsZero() && now.Sub(dc.LastPolledAt) < devicePollSecs*time.Second:
		return nil, newError(errSlowDown, "poll at most every 5 seconds")
	case dc.DecidedAt.IsZero():
		return nil, newError(errAuthorizationPending, "the user has not decided yet")
	case !dc.Approved:
		return nil, newError(errAccessDenied, "the user denied the request")
	}
	g, err := s.store.GetGrant(ctx, dc.GrantID)
	if err != nil {
		return nil, internalError(err)
	}
	resp, err := s.mintAccessToken(ctx, c, g, g.Scopes, g.Resources)
	if err != nil {
		return nil, internalError(err)
	}
	if err := s.addRefreshToken(ctx, c, g, now, resp); err != nil {
		return nil, internalError(err)
	}
	s.audit(ctx, "device.token", "client_id", c.id, "grant_id", g.ID)
	return resp, nil
}

// routeDevice adds the device endpoints to mux when the store supports them.
func (s *Server) routeDevice(mux *http.ServeMux, base string) {
	if _, ok := s.deviceStore(); !ok {
		return
	}
	mux.HandleFunc("POST "+base+pathDeviceAuthorization, s.cors(s.handleDeviceAuthorization))
	mux.HandleFunc("OPTIONS "+base+pathDeviceAuthorization, s.cors(nil))
	mux.HandleFunc("GET "+base+pathDevice, s.handleDevicePage)
	mux.HandleFunc("POST "+base+pathDevice, s.handleDeviceDecision)
}

// deviceMetadata adds the device endpoint and grant type to the metadata (§4).
func (s *Server) deviceMetadata(m *Metadata) {
	if _, ok := s.deviceStore(); ok {
		m.DeviceAuthorizationEndpoint = s.endpoint(pathDeviceAuthorization)
		m.GrantTypesSupported = append(m.GrantTypesSupported, GrantDeviceCode)
	}
}
