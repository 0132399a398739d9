// Dynamic client registration: RFC 7591 §3 (POST /register), with the registration policies
// open, token (initial access token, §3) and closed, and a per-source-address rate limit.
package authserver

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// registrationValidation is what dynamic registration accepts. client_credentials is for
// pre-registered clients only: a self-registered client must not obtain tokens without a user.
var registrationValidation = ValidateOptions{
	GrantTypes:  []string{GrantAuthorizationCode, GrantRefreshToken, GrantDeviceCode}, // device: RFC 8628, device.go (cli)
	AuthMethods: []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
}

// registrationResponse is the client information response of RFC 7591 §3.2.1 (and RFC 7592
// §3): the registered metadata plus the credentials.
type registrationResponse struct {
	*ClientMetadata
	ClientID                string `json:"client_id"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at"`
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

func (s *Server) handleRegisterClosed(w http.ResponseWriter, r *http.Request) {
	s.audit(r.Context(), "registration.refused", "reason", "policy closed", "remote", s.clientAddr(r))
	writeJSON(w, http.StatusForbidden, newError("access_denied", "dynamic client registration is disabled on this server; ask its operator for a client ID"))
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if counted, wait, err := s.regLimit.take(ctx, s.clientAddr(r)); err != nil {
		s.serverError(w, r, "count a registration", err)
		return
	} else if !counted {
		s.audit(ctx, "registration.refused", "reason", "rate limit", "remote", s.clientAddr(r))
		setRetryAfter(w, wait)
		writeJSON(w, http.StatusTooManyRequests, newError("temporarily_unavailable", "too many registrations from this address; retry later"))
		return
	}
	if s.cfg.RegistrationPolicy == RegistrationToken {
		tok, ok := bearerToken(r)
		if !ok || subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.InitialAccessToken)) != 1 {
			s.audit(ctx, "registration.refused", "reason", "missing or wrong initial access token", "remote", s.clientAddr(r))
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="an initial access token is required to register"`)
			writeJSON(w, http.StatusUnauthorized, newError(errInvalidToken, "an initial access token is required to register (RFC 7591 §3)"))
			return
		}
	}
	meta, err := DecodeRegistrationRequest(http.MaxBytesReader(w, r.Body, MaxRegistrationRequestBytes+1), r.Header.Get("Content-Type"))
	if err == nil {
		err = validateRegistration(meta)
	}
	if err != nil {
		s.registrationError(w, r, err)
		return
	}
	meta.ClientID = ""
	now := s.now()
	id := newClientID(now)
	regToken := newSecret("mrt_")
	sc := &store.Client{
		ID: id, Kind: store.ClientDynamic, RegistrationTokenHash: s.secrets.hash(kindRegToken, regToken),
		CreatedAt: now,
	}
	resp := &registrationResponse{
		ClientMetadata: meta, ClientID: id, ClientIDIssuedAt: now.Unix(),
		RegistrationAccessToken: regToken, RegistrationClientURI: s.endpoint(pathRegister + "/" + id),
	}
	if meta.TokenEndpointAuthMethod == AuthMethodClientSecretBasic || meta.TokenEndpointAuthMethod == AuthMethodClientSecretPost {
		resp.ClientSecret = newSecret("mcs_")
		sc.SecretHash = s.secrets.hash(kindClientSecret, resp.ClientSecret)
		never := int64(0) // RFC 7591 §3.2.1: 0 means the secret does not expire
		resp.ClientSecretExpiresAt = &never
	}
	if sc.Metadata, err = json.Marshal(meta); err != nil {
		s.serverError(w, r, "encode client metadata", err)
		return
	}
	if err := s.store.CreateClient(ctx, sc); err != nil {
		s.serverError(w, r, "store client", err)
		return
	}
	s.audit(ctx, "client.registered", "client_id", id, "client_name", meta.ClientName,
		"auth_method", meta.TokenEndpointAuthMethod, "redirect_uris", meta.RedirectURIs, "remote", s.clientAddr(r))
	w.Header().Set("Location", resp.RegistrationClientURI)
	writeJSON(w, http.StatusCreated, resp)
}

// validateRegistration checks the metadata of a registration or update request.
func validateRegistration(meta *ClientMetadata) error {
	if err := meta.Validate(registrationValidation); err != nil {
		return err
	}
	return checkClientKeys(meta)
}

// registrationError answers a refused registration with its RFC 7591 §3.2.2 error.
func (s *Server) registrationError(w http.ResponseWriter, r *http.Request, err error) {
	re, ok := err.(*RegistrationError)
	if !ok {
		re = &RegistrationError{Code: ErrCodeInvalidClientMetadata, Description: "request body cannot be read"}
	}
	s.audit(r.Context(), "registration.refused", "error", re.Code, "reason", re.Description, "remote", s.clientAddr(r))
	writeJSON(w, http.StatusBadRequest, re)
}

// bearerToken returns the token of an "Authorization: Bearer" header (RFC 6750 §2.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
