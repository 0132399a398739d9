// Client metadata and its validation: RFC 7591 §2 (fields), §3.2.2 (errors), OpenID Connect Dynamic
// Client Registration 1.0 §2 (application_type) and RFC 8252 §7 (native app redirect URIs).
package authserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RFC 7591 §3.2.2 error codes.
const (
	ErrCodeInvalidRedirectURI    = "invalid_redirect_uri"
	ErrCodeInvalidClientMetadata = "invalid_client_metadata"
)

// Grant types (RFC 7591 §2), response types and client authentication methods (RFC 7591 §2,
// RFC 7523) this package knows.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"

	ResponseTypeCode = "code"

	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodClientSecretJWT   = "client_secret_jwt"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"

	ApplicationTypeWeb    = "web"
	ApplicationTypeNative = "native"
)

// Limits on a registration request. They are generous for real clients and keep a hostile
// request from costing much memory or filling the store.
const (
	MaxRegistrationRequestBytes = 64 << 10
	maxRedirectURIs             = 20
	maxURILength                = 2000
	maxContacts                 = 10
	maxTextLength               = 200
	maxScopeLength              = 2000
)

// DefaultGrantTypes and DefaultAuthMethods are what Validate accepts when ValidateOptions leaves
// the corresponding field nil.
var (
	DefaultGrantTypes  = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
	DefaultAuthMethods = []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost}
)

// ClientMetadata is the client metadata of RFC 7591 §2, plus application_type (OpenID Connect
// Dynamic Client Registration 1.0 §2) and client_id (present in a Client ID Metadata Document).
// Unknown fields are ignored, as RFC 7591 §2 requires.
type ClientMetadata struct {
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	Contacts                []string        `json:"contacts,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	ClientID                string          `json:"client_id,omitempty"`
}

// RegistrationError is a client registration error response (RFC 7591 §3.2.2). Code is
// ErrCodeInvalidRedirectURI or ErrCodeInvalidClientMetadata; Description is safe to show to the
// client (it never contains a secret).
type RegistrationError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *RegistrationError) Error() string {
	return e.Code + ": " + e.Description
}

func metadataError(format string, args ...any) *RegistrationError {
	return &RegistrationError{Code: ErrCodeInvalidClientMetadata, Description: fmt.Sprintf(format, args...)}
}

func redirectError(format string, args ...any) *RegistrationError {
	return &RegistrationError{Code: ErrCodeInvalidRedirectURI, Description: fmt.Sprintf(format, args...)}
}

// DecodeRegistrationRequest reads a client registration request (RFC 7591 §3.1): a JSON object
// of at most MaxRegistrationRequestBytes with media type application/json. It does not validate
// the metadata; call Validate. Every failure is a *RegistrationError with code
// invalid_client_metadata.
func DecodeRegistrationRequest(r io.Reader, contentType string) (*ClientMetadata, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return nil, metadataError("request content type must be application/json")
	}
	body, err := io.ReadAll(io.LimitReader(r, MaxRegistrationRequestBytes+1))
	if err != nil {
		return nil, metadataError("cannot read request body")
	}
	if len(body) > MaxRegistrationRequestBytes {
		return nil, metadataError("request body exceeds %d bytes", MaxRegistrationRequestBytes)
	}
	return decodeClientMetadata(body)
}

// decodeClientMetadata decodes one JSON object of client metadata from body, refusing invalid
// UTF-8, trailing data and values of the wrong JSON type.
func decodeClientMetadata(body []byte) (*ClientMetadata, error) {
	if !utf8.Valid(body) {
		return nil, metadataError("request body is not valid UTF-8")
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, metadataError("request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var m ClientMetadata
	if err := dec.Decode(&m); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, metadataError("field %s has the wrong JSON type", typeErr.Field)
		}
		return nil, metadataError("request body is not valid JSON")
	}
	if dec.More() {
		return nil, metadataError("request body has data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, metadataError("request body has data after the JSON object")
	}
	return &m, nil
}

// ValidateOptions tells Validate what this server supports.
type ValidateOptions struct {
	// GrantTypes the server accepts in a registration; nil means DefaultGrantTypes.
	GrantTypes []string
	// AuthMethods are the token endpoint auth methods the server accepts; nil means
	// DefaultAuthMethods.
	AuthMethods []string
}

// Validate checks the metadata and fills in defaults, in place:
//   - grant_types defaults to ["authorization_code"] and response_types to ["code"] when
//     authorization_code is used (RFC 7591 §2); only the "code" response type exists (OAuth 2.1
//     has no implicit grant), and authorization_code and "code" must come together (§2.1);
//   - token_endpoint_auth_method defaults to client_secret_basic (RFC 7591 §2);
//     client_credentials needs a confidential method and private_key_jwt a key set;
//   - application_type is "web" or "native". When absent it is inferred rather than defaulted to
//     "web" as OpenID Connect does, because MCP clients older than the 2026-07-28 spec do not
//     send it: "native" when any redirect URI is a loopback or private-use one, else "web".
//     An explicit "web" with such a redirect URI is refused;
//   - redirect URIs: see validateRedirectURI.
//
// The error, if any, is a *RegistrationError.
func (m *ClientMetadata) Validate(opts ValidateOptions) error {
	if opts.GrantTypes == nil {
		opts.GrantTypes = DefaultGrantTypes
	}
	if opts.AuthMethods == nil {
		opts.AuthMethods = DefaultAuthMethods
	}
	if err := m.validateTypes(opts); err != nil {
		return err
	}
	if err := m.validateRedirectURIs(); err != nil {
		return err
	}
	if err := m.validateAuthMethod(opts); err != nil {
		return err
	}
	return m.validateDescriptive()
}

// validateTypes checks grant_types and response_types (RFC 7591 §2, §2.1).
func (m *ClientMetadata) validateTypes(opts ValidateOptions) error {
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{GrantAuthorizationCode}
	}
	m.GrantTypes = dedupe(m.GrantTypes)
	for _, g := range m.GrantTypes {
		if !slices.Contains(opts.GrantTypes, g) {
			return metadataError("grant type %q is not supported", truncate(g))
		}
	}
	usesCode := slices.Contains(m.GrantTypes, GrantAuthorizationCode)
	if m.ResponseTypes == nil && usesCode { // omitted, not an explicit []
		m.ResponseTypes = []string{ResponseTypeCode}
	}
	m.ResponseTypes = dedupe(m.ResponseTypes)
	for _, rt := range m.ResponseTypes {
		if rt != ResponseTypeCode {
			return metadataError("response type %q is not supported (only \"code\")", truncate(rt))
		}
	}
	hasCode := len(m.ResponseTypes) > 0
	switch {
	case usesCode && !hasCode:
		return metadataError("grant type authorization_code requires response type \"code\"")
	case hasCode && !usesCode:
		return metadataError("response type \"code\" requires grant type authorization_code")
	case slices.Contains(m.GrantTypes, GrantRefreshToken) && !usesCode && !slices.Contains(m.GrantTypes, GrantDeviceCode):
		return metadataError("grant type refresh_token requires grant type authorization_code (or the device code grant)")
	}
	return nil
}

// validateRedirectURIs checks redirect_uris and application_type together.
func (m *ClientMetadata) validateRedirectURIs() error {
	if len(m.RedirectURIs) == 0 && slices.Contains(m.GrantTypes, GrantAuthorizationCode) {
		return redirectError("redirect_uris is required for the authorization_code grant")
	}
	if len(m.RedirectURIs) > maxRedirectURIs {
		return redirectError("at most %d redirect URIs are allowed", maxRedirectURIs)
	}
	m.RedirectURIs = dedupe(m.RedirectURIs)
	nativeURI := "" // the first redirect URI only a native app may use
	for _, raw := range m.RedirectURIs {
		kind, err := validateRedirectURI(raw)
		if err != nil {
			return err
		}
		if kind != redirectHTTPS && nativeURI == "" {
			nativeURI = raw
		}
	}
	switch m.ApplicationType {
	case "":
		m.ApplicationType = ApplicationTypeWeb
		if nativeURI != "" {
			m.ApplicationType = ApplicationTypeNative
		}
	case ApplicationTypeNative:
	case ApplicationTypeWeb:
		if nativeURI != "" {
			return redirectError("redirect URI %q is for native applications, but application_type is \"web\"", truncate(nativeURI))
		}
	default:
		return metadataError("application_type must be \"web\" or \"native\"")
	}
	return nil
}

type redirectKind int

const (
	redirectHTTPS redirectKind = iota
	redirectLoopback
	redirectPrivateUse
)

// blockedSchemes can run code or read local data in a user agent; they are never redirect URIs,
// not even for native apps. Each lacks the period that RFC 8252 §7.1 private-use schemes need,
// so they are refused anyway; naming them gives a clearer error.
var blockedSchemes = []string{"javascript", "data", "file", "vbscript", "about", "blob", "filesystem", "view-source", "ftp", "ws", "wss"}

// validateRedirectURI accepts three kinds of redirect URI:
//   - https with a host (RFC 6749 §3.1.2.1, OAuth 2.1 §2.3.1);
//   - http on a loopback host: 127.0.0.1, [::1] (RFC 8252 §7.3), or localhost, which RFC 8252
//     §8.3 discourages but the MCP specification uses in its own examples;
//   - a private-use scheme in reverse domain name form (RFC 8252 §7.1), such as
//     com.example.app:/callback. A scheme without a period is refused: §7.1 requires the reverse
//     domain form, and it keeps javascript:, data:, file: and the like out.
//
// Every kind must be an absolute URI without a fragment (RFC 6749 §3.1.2) and without userinfo.
func validateRedirectURI(raw string) (redirectKind, error) {
	if len(raw) > maxURILength {
		return 0, redirectError("a redirect URI is longer than %d characters", maxURILength)
	}
	if strings.Contains(raw, "#") {
		return 0, redirectError("redirect URI %q must not contain a fragment", truncate(raw))
	}
	if strings.IndexFunc(raw, func(r rune) bool { return !isURIChar(r) }) >= 0 {
		return 0, redirectError("redirect URI %q contains a character a URI cannot hold unencoded (RFC 3986 §2)", truncate(raw))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return 0, redirectError("redirect URI %q is not an absolute URI", truncate(raw))
	}
	scheme := u.Scheme
	if scheme != strings.ToLower(scheme) {
		return 0, redirectError("redirect URI %q must use a lower-case scheme", truncate(raw))
	}
	if slices.Contains(blockedSchemes, scheme) {
		return 0, redirectError("redirect URI scheme %q is not allowed", scheme)
	}
	if u.User != nil {
		return 0, redirectError("redirect URI %q must not contain userinfo", truncate(raw))
	}
	switch scheme {
	case "https":
		if u.Hostname() == "" || !portOK(u) {
			return 0, redirectError("redirect URI %q has no host or an invalid port", truncate(raw))
		}
		return redirectHTTPS, nil
	case "http":
		if isLoopbackHost(u.Hostname()) && portOK(u) {
			return redirectLoopback, nil
		}
		return 0, redirectError("redirect URI %q must use https (http is allowed only for 127.0.0.1, [::1] and localhost)", truncate(raw))
	}
	if !strings.Contains(scheme, ".") {
		return 0, redirectError("redirect URI scheme %q is neither https, loopback http, nor a reverse domain name private-use scheme (RFC 8252 §7.1)", scheme)
	}
	if u.Host != "" || u.Opaque != "" {
		// RFC 8252 §7.1: one slash after the scheme (com.example.app:/cb); an authority would
		// make the URI look like a network location, and an opaque part has no path.
		return 0, redirectError("private-use redirect URI %q must have the form scheme:/path", truncate(raw))
	}
	return redirectPrivateUse, nil
}

// isLoopbackHost reports whether a URL host name (without brackets) is a loopback redirect host.
func isLoopbackHost(host string) bool {
	return host == "127.0.0.1" || host == "::1" || host == "localhost"
}

// isURIChar reports whether r may appear in a URI: unreserved, reserved or "%" (RFC 3986 §2).
func isURIChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("-._~:/?#[]@!$&'()*+,;=%", r)
}

// portOK reports whether u has no port, or a valid one (an empty port after ":" is not).
func portOK(u *url.URL) bool {
	p := u.Port()
	return validPort(p) || p == "" && !strings.HasSuffix(u.Host, ":")
}

// validPort reports whether p is a decimal port 1-65535 written without leading zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// validateAuthMethod checks token_endpoint_auth_method (RFC 7591 §2) against the grant types.
func (m *ClientMetadata) validateAuthMethod(opts ValidateOptions) error {
	if m.TokenEndpointAuthMethod == "" {
		m.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
	}
	method := m.TokenEndpointAuthMethod
	if !slices.Contains(opts.AuthMethods, method) {
		return metadataError("token_endpoint_auth_method %q is not supported", truncate(method))
	}
	if method == AuthMethodNone && slices.Contains(m.GrantTypes, GrantClientCredentials) {
		return metadataError("grant type client_credentials requires client authentication, not \"none\"")
	}
	if m.JWKSURI != "" && len(m.JWKS) > 0 {
		return metadataError("jwks_uri and jwks must not both be present")
	}
	if method == AuthMethodPrivateKeyJWT && m.JWKSURI == "" && len(m.JWKS) == 0 {
		return metadataError("private_key_jwt requires jwks or jwks_uri")
	}
	if len(m.JWKS) > 0 {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(m.JWKS, &set); err != nil || set.Keys == nil {
			return metadataError("jwks must be a JSON Web Key Set object with a \"keys\" array")
		}
	}
	return nil
}

// validateDescriptive checks the human-readable and informational fields, which a consent page
// shows: no control or bidirectional formatting characters (they can disguise a client's
// name), bounded lengths, and https URLs only (a javascript: client_uri would be a link to a script).
func (m *ClientMetadata) validateDescriptive() error {
	for name, v := range map[string]string{"client_name": m.ClientName, "software_id": m.SoftwareID, "software_version": m.SoftwareVersion} {
		if err := checkText(name, v); err != nil {
			return err
		}
	}
	for name, v := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI, "policy_uri": m.PolicyURI, "jwks_uri": m.JWKSURI} {
		if v == "" {
			continue
		}
		if !isHTTPSURL(v) {
			return metadataError("%s must be an https URL", name)
		}
	}
	if len(m.Contacts) > maxContacts {
		return metadataError("at most %d contacts are allowed", maxContacts)
	}
	for _, c := range m.Contacts {
		if err := checkText("contacts", c); err != nil {
			return err
		}
	}
	if len(m.Scope) > maxScopeLength {
		return metadataError("scope is longer than %d characters", maxScopeLength)
	}
	if m.Scope != "" && slices.ContainsFunc(strings.Split(m.Scope, " "), func(s string) bool { return !validScopeToken(s) }) {
		return metadataError("scope must be space-separated scope tokens (RFC 6749 §3.3)")
	}
	return nil
}

// isHTTPSURL reports whether v is an absolute https URL with a host and no userinfo.
func isHTTPSURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && len(v) <= maxURILength && u.Scheme == "https" && u.Hostname() != "" && u.User == nil
}

func checkText(name, v string) error {
	if utf8.RuneCountInString(v) > maxTextLength {
		return metadataError("%s is longer than %d characters", name, maxTextLength)
	}
	for _, r := range v {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return metadataError("%s contains control or bidirectional formatting characters", name)
		}
	}
	return nil
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// dedupe returns s without repeated values, keeping the first occurrence.
func dedupe(s []string) []string {
	out := s[:0:0]
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// truncate shortens a client-supplied value for an error description.
func truncate(s string) string {
	const n = 100
	if len(s) <= n {
		return s
	}
	for i := range s {
		if i > n-4 {
			return s[:i] + "…"
		}
	}
	return s
}
