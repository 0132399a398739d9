// Package client is an MCP client for servers protected by OAuth 2.1, following the MCP
// authorization specification (2026-07-28, compatible with 2025-11-25, 2025-06-18 and 2025-03-26).
//
// The common case is one call:
//
//	s, err := client.Connect(ctx, client.Config{ServerURL: "https://api.example.com/mcp", ClientName: "My AI Tool"})
//
// Connect discovers the server's authorization server (RFC 9728, RFC 8414, OpenID Connect
// Discovery), registers the client when needed (pre-registered ID, Client ID Metadata Document
// or RFC 7591 Dynamic Client Registration), runs the authorization code flow with PKCE in the
// user's browser through a loopback redirect (RFC 8252), and returns a go-sdk
// [mcp.ClientSession] whose every HTTP request carries a valid bearer token. Registrations and
// tokens are kept in a [Store] (files under the user's config directory by default), bound to
// the authorization server that issued them.
package client

import (
	"context"
	"crypto"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// GrantType selects how the client obtains tokens.
type GrantType string

const (
	// AuthorizationCode is the interactive authorization code grant with PKCE (the default).
	AuthorizationCode GrantType = "authorization_code"
	// ClientCredentials is the client credentials grant (RFC 6749 §4.4) for pre-registered
	// confidential clients acting on their own behalf (server-to-server).
	ClientCredentials GrantType = "client_credentials"
	// DeviceCode is the device authorization grant (RFC 8628) for a user whose browser is on
	// another device. It is available when the package's device grant (device.go) is built in.
	DeviceCode GrantType = "urn:ietf:params:oauth:grant-type:device_code"
)

// Token endpoint client authentication methods (RFC 7591 §2, RFC 7523 §2.2).
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Config describes the MCP server to connect to and how the client identifies itself.
// Only ServerURL is required.
type Config struct {
	// ServerURL is the MCP server's Streamable HTTP endpoint, e.g. https://api.example.com/mcp.
	// Its canonical form is the resource indicator (RFC 8707) sent to the authorization server.
	ServerURL string

	// ClientName is the human-readable name shown on consent screens and sent in dynamic
	// registration; it is also the MCP client name. Default "mcpauth".
	ClientName string
	// ClientVersion is the MCP client version sent in initialize. Default "dev".
	ClientVersion string

	// ClientID is a pre-registered client identifier. When set, no registration is attempted.
	ClientID string
	// ClientSecret is the pre-registered client's secret (confidential clients).
	ClientSecret string
	// Issuer, when set, is the only authorization server the client will use: discovery that
	// leads elsewhere fails with an IssuerMismatchError before any credential is sent. Set it with
	// pre-registered credentials, so that a server cannot direct them to another issuer.
	Issuer string
	// TokenEndpointAuthMethod forces the token endpoint authentication method of a
	// pre-registered client (AuthNone, AuthClientSecretBasic, AuthClientSecretPost or
	// AuthPrivateKeyJWT). Empty means: private_key_jwt when PrivateKey is set, otherwise the
	// first of client_secret_basic and client_secret_post the server supports when
	// ClientSecret is set, otherwise none.
	TokenEndpointAuthMethod string
	// PrivateKey signs private_key_jwt client assertions (RFC 7523): an *rsa.PrivateKey,
	// *ecdsa.PrivateKey or ed25519.PrivateKey. See ParsePrivateKey for PEM input.
	PrivateKey crypto.Signer
	// PrivateKeyAlg is the JWS algorithm for PrivateKey (e.g. RS256, ES256, EdDSA).
	// Empty chooses from the key type.
	PrivateKeyAlg string
	// PrivateKeyID is the optional "kid" header of client assertions.
	PrivateKeyID string

	// ClientMetadataURL is the https URL of this client's Client ID Metadata Document. It is
	// used as the client_id when the authorization server advertises
	// client_id_metadata_document_supported.
	ClientMetadataURL string

	// Resource, when set, is the resource indicator (RFC 8707) sent in authorization, token
	// and refresh requests instead of the one discovery finds (the resource of the server's
	// protected resource metadata, else the canonical ServerURL): for a server whose tokens
	// must name another audience. The metadata is still checked against ServerURL.
	Resource string

	// AllowHTTP allows plain http URLs on hosts other than loopback, for the MCP server and
	// every OAuth endpoint, so that tokens, codes and secrets travel unencrypted: only for a
	// trusted private network. http on loopback is always allowed, https always required
	// otherwise. The Client ID Metadata Document URL must be https regardless.
	AllowHTTP bool

	// GrantType is AuthorizationCode (default) or ClientCredentials.
	GrantType GrantType

	// Scopes, when set, are requested instead of the scopes the server advertises.
	Scopes []string

	// Store keeps registrations and tokens. Default: a FileStore in DefaultConfigDir().
	// Use NewMemoryStore() to keep nothing on disk.
	Store Store

	// HTTPClient sends every HTTP request: discovery, registration, token and MCP requests.
	// Default http.DefaultClient. Its Transport is wrapped, never modified.
	HTTPClient *http.Client

	// OpenBrowser shows the authorization URL to the user. The default opens the system
	// browser ($BROWSER when set, run without a shell). The URL is always printed to Stderr
	// as well. A headless caller may replace it, e.g. with an HTTP GET that follows the
	// redirects to the loopback callback.
	OpenBrowser func(ctx context.Context, authURL string) error
	// NoBrowser only prints the authorization URL; the user opens it by hand.
	NoBrowser bool
	// ReadRedirect, when set, returns the redirect URL the user copied from a browser on
	// another machine (where the redirect to this machine's loopback address cannot land).
	// It races the loopback listener; whichever answers first completes the authorization.
	// An error from it only stops the reading: the listener keeps waiting.
	ReadRedirect func(ctx context.Context) (redirectURL string, err error)
	// RedirectPort fixes the loopback callback port (default: an ephemeral port).
	RedirectPort int
	// Stderr receives the authorization URL and short progress lines. Default os.Stderr.
	Stderr io.Writer

	// Logger receives debug and warning records. Nil is silent. Tokens, secrets and codes
	// are never logged.
	Logger *slog.Logger

	// Now returns the current time (tests). Default time.Now.
	Now func() time.Time
}
