// Typed errors of the MCP authorization flow, usable with errors.As (MCP authorization
// specification; RFC 6749 §4.1.2.1 and §5.2, RFC 7591 §3.2.2, RFC 8414 §3.3, RFC 9728 §3.3).

package client

import (
	"errors"
	"fmt"
	"strings"
)

// Challenge is one parsed WWW-Authenticate challenge (RFC 9110 §11.6.1). Scheme is as sent;
// Params keys are lower case.
type Challenge struct {
	Scheme string
	Params map[string]string
}

// AuthorizationRequiredError reports that the MCP server refused a request (401, or 403
// without a scope the client could add) and the client could not obtain a token it accepts.
type AuthorizationRequiredError struct {
	StatusCode int
	Challenges []Challenge
	// Err is the cause, when one is known (e.g. a failed refresh).
	Err error
}

func (e *AuthorizationRequiredError) Error() string {
	msg := fmt.Sprintf("authorization required (HTTP %d)", e.StatusCode)
	for _, c := range e.Challenges {
		if strings.EqualFold(c.Scheme, "Bearer") && c.Params["error"] != "" {
			msg += ", the server says " + oauthErrorText(0, c.Params["error"], c.Params["error_description"])
			break
		}
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *AuthorizationRequiredError) Unwrap() error { return e.Err }

// RegistrationError is an authorization server's refusal of a dynamic client
// registration (RFC 7591 §3.2.2).
type RegistrationError struct {
	StatusCode  int
	Code        string // e.g. invalid_redirect_uri, invalid_client_metadata
	Description string
}

func (e *RegistrationError) Error() string {
	return "client registration rejected: " + oauthErrorText(e.StatusCode, e.Code, e.Description)
}

// NoRegistrationError means the authorization server offers no way for this client to
// register itself (no registration endpoint, no usable Client ID Metadata Document).
type NoRegistrationError struct {
	Issuer string
}

func (e *NoRegistrationError) Error() string {
	return fmt.Sprintf("authorization server %s supports neither dynamic client registration nor client ID metadata documents for this client: "+
		"register a client with it and pass its ID (Config.ClientID, or --client-id and --client-secret on the command line)", e.Issuer)
}

// IssuerMismatchError is a metadata document or authorization response whose issuer is
// not the one expected (RFC 8414 §3.3, RFC 9207 §2.4: a possible mix-up attack).
type IssuerMismatchError struct {
	Expected, Got string
	Where         string // "metadata" or "authorization response"
}

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("issuer mismatch in %s: expected %q, got %q", e.Where, e.Expected, e.Got)
}

// PKCEUnsupportedError is an authorization server whose metadata does not list S256 in
// code_challenge_methods_supported; the MCP specification forbids proceeding.
type PKCEUnsupportedError struct {
	Issuer  string
	Methods []string
}

func (e *PKCEUnsupportedError) Error() string {
	return fmt.Sprintf("authorization server %s does not support PKCE with S256 (code_challenge_methods_supported: %v); refusing to authorize", e.Issuer, e.Methods)
}

// InsufficientScopeError is a 403 insufficient_scope that stepping up did not cure within
// the limit of authorizations per operation.
type InsufficientScopeError struct {
	Required []string // scopes named by the last challenge
	Granted  []string // scopes of the last token
	Attempts int      // authorizations made for the operation
}

func (e *InsufficientScopeError) Error() string {
	return fmt.Sprintf("insufficient scope: the server requires %q, still refused after %d authorization(s) (granted %q)",
		strings.Join(e.Required, " "), e.Attempts, strings.Join(e.Granted, " "))
}

// AuthorizationResponseError is an error= in the authorization callback (RFC 6749 §4.1.2.1),
// or a callback that fails validation (missing code, wrong state).
type AuthorizationResponseError struct {
	Code        string
	Description string
	fromServer  bool // an error= of the authorization server, not a failed validation
}

func (e *AuthorizationResponseError) Error() string {
	return "authorization failed: " + oauthErrorText(0, e.Code, e.Description)
}

// UserDeniedError is the authorization server's access_denied: the user refused consent.
type UserDeniedError struct {
	Description string
}

func (e *UserDeniedError) Error() string {
	msg := "the user denied the authorization request"
	if e.Description != "" {
		msg += ": " + sanitize(e.Description)
	}
	return msg
}

// ResourceMismatchError is Protected Resource Metadata whose resource is not the MCP
// server's URL (RFC 9728 §3.3); no authorization request is made.
type ResourceMismatchError struct {
	Expected, Got string
}

func (e *ResourceMismatchError) Error() string {
	return fmt.Sprintf("protected resource metadata is for %q, not for %q; refusing to authorize", e.Got, e.Expected)
}

// TokenError is an error response of the token endpoint (RFC 6749 §5.2).
type TokenError struct {
	StatusCode  int
	Code        string // e.g. invalid_grant, invalid_client
	Description string
}

func (e *TokenError) Error() string {
	return "token request failed: " + oauthErrorText(e.StatusCode, e.Code, e.Description)
}

// MetadataError is a discovery document that could not be fetched or is invalid.
type MetadataError struct {
	URL    string
	Reason string
}

func (e *MetadataError) Error() string {
	return fmt.Sprintf("metadata %s: %s", e.URL, e.Reason)
}

// ErrInsecureURL is returned for an endpoint that is neither https nor http on a loopback
// address.
var ErrInsecureURL = errors.New("URL must be https (or http on a loopback address)")

// oauthErrorText renders an OAuth error code and description for a message. The
// description comes from the network: it is cut and stripped of control characters.
func oauthErrorText(status int, code, desc string) string {
	var b strings.Builder
	if code == "" {
		code = "unknown_error"
	}
	b.WriteString(sanitize(code))
	if desc != "" {
		b.WriteString(": ")
		b.WriteString(sanitize(desc))
	}
	if status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", status)
	}
	return b.String()
}

// sanitize makes untrusted text safe to show: printable runes only, at most 200.
func sanitize(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 200 {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
