// Persistence of client registrations and tokens, bound to (resource, issuer) as the MCP
// authorization specification requires ("Token Audience Binding", "Client Registration").

package client

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// ErrNotFound is returned by a Store that holds no entry for a key.
var ErrNotFound = errors.New("not found")

// Key identifies stored credentials: the MCP server's canonical resource URI and the issuer
// of the authorization server that issued them. Credentials are never sent to another issuer.
type Key struct {
	Resource string `json:"resource"`
	Issuer   string `json:"issuer"`
}

// Registration is how the client is known to an authorization server.
type Registration struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// SecretExpiresAt is when ClientSecret expires; zero means never (RFC 7591 §3.2.1).
	SecretExpiresAt time.Time `json:"client_secret_expires_at,omitzero"`
	// AuthMethod is the token endpoint authentication method (AuthNone, ...).
	AuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// Dynamic is true for a registration obtained by RFC 7591 dynamic registration, which
	// the client may replace; false for pre-registered and metadata-document clients.
	Dynamic bool `json:"dynamic,omitempty"`
	// MetadataDocument is true when ClientID is the URL of this client's Client ID Metadata
	// Document: the client is this program's own, not one an administrator registered.
	MetadataDocument bool `json:"metadata_document,omitempty"`
}

// Entry is what a Store keeps for one Key.
type Entry struct {
	Key
	// TokenEndpoint lets a stored token be refreshed without discovery.
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// ResourceIndicator is the resource parameter (RFC 8707) sent with token requests: the
	// protected resource metadata's resource, which may be a prefix of Key.Resource.
	ResourceIndicator string `json:"resource_indicator,omitempty"`
	// Registration is the client registration with Issuer, if any.
	Registration *Registration `json:"registration,omitempty"`
	// Token is the last token obtained, if any.
	Token *oauth2.Token `json:"token,omitempty"`
	// Scopes are the scopes granted to Token (or requested, if the server did not say).
	Scopes []string `json:"scopes,omitempty"`
	// Updated is when the entry was last written.
	Updated time.Time `json:"updated"`
}

// Store keeps client registrations and tokens. Implementations must be safe for
// concurrent use. FileStore and MemoryStore are provided.
type Store interface {
	// Get returns the entry for key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key Key) (*Entry, error)
	// Put creates or replaces the entry for e.Key.
	Put(ctx context.Context, e *Entry) error
	// Delete removes the entry for key; deleting a missing entry is not an error.
	Delete(ctx context.Context, key Key) error
	// List returns the entries for a resource (every issuer), most recently updated first.
	List(ctx context.Context, resource string) ([]*Entry, error)
}
