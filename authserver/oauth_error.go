// OAuth error responses: RFC 6749 §5.2 (token endpoint JSON), §4.1.2.1 (authorization
// redirects, with RFC 9207 iss) and RFC 6750 §3 (bearer challenges).
package authserver

import (
	"encoding/json"
	"net/http"
)

// OAuth error codes (RFC 6749 §4.1.2.1, §5.2; RFC 8707 §2; RFC 7009 §2.2.1).
const (
	errInvalidRequest          = "invalid_request"
	errInvalidClient           = "invalid_client"
	errInvalidGrant            = "invalid_grant"
	errUnauthorizedClient      = "unauthorized_client"
	errUnsupportedGrantType    = "unsupported_grant_type"
	errUnsupportedResponseType = "unsupported_response_type"
	errInvalidScope            = "invalid_scope"
	errInvalidTarget           = "invalid_target"
	errAccessDenied            = "access_denied"
	errLoginRequired           = "login_required"
	errConsentRequired         = "consent_required"
	errServerError             = "server_error"
	errInvalidToken            = "invalid_token"
)

// oauthError is an OAuth error: a code and a description that is safe to show (never a secret).
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func newError(code, description string) *oauthError {
	return &oauthError{Code: code, Description: description}
}

// writeJSON writes v as a JSON response that no cache may store (RFC 6749 §5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError writes an RFC 6749 §5.2 error response: 401 for invalid_client (with a Basic
// challenge when the client tried Basic authentication), 500 for server_error, else 400.
func writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	status := http.StatusBadRequest
	switch e.Code {
	case errInvalidClient:
		status = http.StatusUnauthorized
		if _, _, ok := r.BasicAuth(); ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="token", charset="UTF-8"`)
		}
	case errServerError:
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, e)
}

// serverError logs an internal failure and answers server_error without its details.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), "authserver: "+what, "err", err, "path", r.URL.Path)
	writeError(w, r, newError(errServerError, "internal error"))
}
