// Clients (RFC 6749 §2): pre-registered (public or confidential), self-registered (RFC 7591) and
// Client ID Metadata Document clients, and their secrets: 256 random bits, shown once, stored
// as HMAC-SHA-256 under a key derived from the key encryption key (a fast keyed hash: a slow
// password hash adds nothing to a random 256-bit secret checked on every token request).
package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// secretHasher hashes secrets (client secrets, registration access tokens, codes, refresh
// tokens, session IDs) with HMAC-SHA-256, so the store never holds one in a usable form.
type secretHasher struct {
	// macs holds *secretMACs to reuse (Reset keeps the key's padded blocks hashed): one per
	// request, as every token, introspection and revocation request hashes a secret.
	macs *sync.Pool
}

// secretMAC is a keyed HMAC with the buffers it hashes through, so that hashing a secret
// allocates nothing: strings go into the HMAC by way of scratch, the sum lands in sum.
type secretMAC struct {
	mac     hash.Hash
	scratch [128]byte
	sum     [sha256.Size]byte
}

// secretHashLen is the length of a stored secret hash: hex of an HMAC-SHA-256.
const secretHashLen = 2 * sha256.Size

func newSecretHasher(kek []byte) secretHasher {
	key := deriveKey(kek, "secrets")
	return secretHasher{macs: &sync.Pool{New: func() any { return &secretMAC{mac: hmac.New(sha256.New, key)} }}}
}

// hash returns the keyed hash of a secret of one kind (the kind keeps, say, a code from being
// accepted as a refresh token).
func (h secretHasher) hash(kind, secret string) string {
	var out [secretHashLen]byte
	h.hashInto(&out, kind, secret)
	return string(out[:])
}

// hashInto writes the hex keyed hash of kind, a zero byte and secret into out.
func (h secretHasher) hashInto(out *[secretHashLen]byte, kind, secret string) {
	m := h.macs.Get().(*secretMAC)
	m.mac.Reset()
	m.write(kind)
	m.scratch[0] = 0
	m.mac.Write(m.scratch[:1])
	m.write(secret)
	hex.Encode(out[:], m.mac.Sum(m.sum[:0]))
	h.macs.Put(m)
}

// write feeds s to the HMAC through the scratch buffer (a []byte(s) for the hash.Hash
// interface would be allocated on the heap).
func (m *secretMAC) write(s string) {
	for len(s) > 0 {
		n := copy(m.scratch[:], s)
		m.mac.Write(m.scratch[:n])
		s = s[n:]
	}
}

// equal compares a secret with a stored hash in constant time (a stored value of another
// length, "" included, matches nothing, as subtle.ConstantTimeCompare answers at once).
func (h secretHasher) equal(kind, secret, stored string) bool {
	if len(stored) != secretHashLen {
		return false
	}
	var got, want [secretHashLen]byte
	h.hashInto(&got, kind, secret)
	copy(want[:], stored)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// Kinds of hashed secrets.
const (
	kindClientSecret = "client-secret"
	kindRegToken     = "registration-token"
	kindCode         = "code"
	kindRefresh      = "refresh"
	kindSession      = "session"
)

// newClientID returns the ID of a client registered at now: "mcp_", the Unix millisecond in
// hex digits (as in refresh tokens), then 128 random bits. IDs sort by registration time, so a
// registration adds its ID at the end of the store's index on them, in the page that the
// registrations committed with it share; with random IDs each one wrote a random page of that
// index of its own, which the commit and then the checkpoint wrote out again.
func newClientID(now time.Time) string { return "mcp_" + timeDigits(now) + randomToken(16) }

// newSecret returns a new secret with 256 bits of randomness and a prefix naming its kind.
func newSecret(prefix string) string { return prefix + randomToken(32) }

// ClientKindCIMD marks a client identified by a Client ID Metadata Document URL.
const ClientKindCIMD store.ClientKind = "cimd"

// client is a client as the endpoints see it, whatever its origin.
type client struct {
	id     string
	kind   store.ClientKind
	meta   *ClientMetadata
	stored *store.Client // nil for CIMD clients
}

func (c *client) public() bool { return c.meta.TokenEndpointAuthMethod == AuthMethodNone }

// name is the client's display name, its ID when it has none.
func (c *client) name() string {
	if c.meta.ClientName != "" {
		return c.meta.ClientName
	}
	return c.id
}

// allowedScopes returns the scopes the client is limited to, nil meaning no limit.
func (c *client) allowedScopes() []string {
	if c.stored != nil {
		return c.stored.Scopes
	}
	return nil
}

func (c *client) quotaTier() string {
	if c.stored != nil {
		return c.stored.QuotaTier
	}
	return ""
}

func (c *client) hasGrant(g string) bool { return slices.Contains(c.meta.GrantTypes, g) }

// errUnknownClient: no client with that ID (or its metadata document could not be used).
var errUnknownClient = errors.New("unknown client")

// lookupClient finds a client by ID: in the store (through the client cache), or, for a URL, by
// fetching its metadata document. The error wraps errUnknownClient when there is no usable
// client. The client returned is the caller's to change.
func (s *Server) lookupClient(ctx context.Context, id string) (*client, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: client_id is missing", errUnknownClient)
	}
	if IsURLClientID(id) {
		if s.cimd == nil {
			return nil, fmt.Errorf("%w: this server does not accept Client ID Metadata Documents", errUnknownClient)
		}
		meta, err := s.cimd.Fetch(ctx, id)
		if err != nil {
			// Only the description is shown: the cause may name internal addresses, which
			// would help probe the network behind this server.
			s.log.WarnContext(ctx, "authserver: client metadata document refused", "client_id", logID(id), "err", err)
			desc := "it could not be used"
			var ce *CIMDError
			if errors.As(err, &ce) {
				desc = ce.Description
			}
			return nil, fmt.Errorf("%w: client metadata document: %s", errUnknownClient, desc)
		}
		return &client{id: id, kind: ClientKindCIMD, meta: meta}, nil
	}
	c, err := s.clients.get(ctx, s.store, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no client with this client_id", errUnknownClient)
	}
	return c, err
}

func clientFromStore(sc *store.Client) (*client, error) {
	var meta ClientMetadata
	if err := json.Unmarshal(sc.Metadata, &meta); err != nil {
		return nil, fmt.Errorf("client %s has corrupt metadata: %w", sc.ID, err)
	}
	return &client{id: sc.ID, kind: sc.Kind, meta: &meta, stored: sc}, nil
}

// StaticClient describes a client an operator pre-registers.
type StaticClient struct {
	// ID is the client_id; empty means a random one.
	ID   string
	Name string
	// RedirectURIs are needed for the authorization_code grant.
	RedirectURIs []string
	// Confidential clients get a secret and authenticate with client_secret_basic or
	// client_secret_post; public clients use PKCE alone.
	Confidential bool
	// JWKS, when set, holds the client's public keys (a JSON Web Key Set): the client is
	// confidential and authenticates with private_key_jwt (RFC 7523) instead of a secret.
	JWKS json.RawMessage
	// GrantTypes default to authorization_code and refresh_token; client_credentials needs a
	// confidential client.
	GrantTypes []string
	// Scopes limits what the client may obtain; nil means any scope the server serves.
	Scopes []string
	// QuotaTier is passed to resource servers in the access token (claim quota_tier).
	QuotaTier string
}

// ClientInfo is what an operator sees of a client; it never holds a secret.
type ClientInfo struct {
	ID              string           `json:"client_id"`
	Kind            store.ClientKind `json:"kind"`
	Name            string           `json:"client_name,omitempty"`
	RedirectURIs    []string         `json:"redirect_uris,omitempty"`
	AuthMethod      string           `json:"token_endpoint_auth_method"`
	GrantTypes      []string         `json:"grant_types"`
	Scopes          []string         `json:"scopes"` // nil: any
	QuotaTier       string           `json:"quota_tier,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	LastUsedAt      time.Time        `json:"last_used_at,omitzero"`
	SecretExpiresAt time.Time        `json:"client_secret_expires_at,omitzero"`
}

func clientInfo(c *client) *ClientInfo {
	return &ClientInfo{
		ID: c.id, Kind: c.kind, Name: c.meta.ClientName, RedirectURIs: c.meta.RedirectURIs,
		AuthMethod: c.meta.TokenEndpointAuthMethod, GrantTypes: c.meta.GrantTypes, Scopes: c.stored.Scopes,
		QuotaTier: c.stored.QuotaTier, CreatedAt: c.stored.CreatedAt, LastUsedAt: c.stored.LastUsedAt,
		SecretExpiresAt: c.stored.SecretExpiresAt,
	}
}

// Admin manages users and pre-registered clients in a store, for the mcpauth CLI and for
// programs that embed the server. It needs the same key encryption key as the server.
type Admin struct {
	store   store.Store
	secrets secretHasher
	now     func() time.Time
	// log receives the audit records of an Admin from Server.Admin; nil (NewAdmin) leaves them
	// to the caller, as the mcpauth CLI writes its own with the operator's name.
	log *slog.Logger
}

// NewAdmin returns an Admin for the store; kek is the key encryption key (see LoadKey). It
// refuses a key that cannot decrypt the store's signing keys: client secrets hashed under it
// would never match at the server.
func NewAdmin(ctx context.Context, st store.Store, kek []byte) (*Admin, error) {
	if len(kek) != keySize {
		return nil, fmt.Errorf("authserver: the key encryption key must be %d bytes", keySize)
	}
	if err := newKeyring(st, kek, time.Hour, time.Hour, time.Now).load(ctx); err != nil {
		return nil, fmt.Errorf("authserver: %w", err)
	}
	return &Admin{store: st, secrets: newSecretHasher(kek), now: time.Now}, nil
}

// Admin returns an Admin on the server's store.
func (s *Server) Admin() *Admin {
	return &Admin{store: s.store, secrets: s.secrets, now: s.now, log: s.log}
}

// AddClient pre-registers a client and returns it with its secret (empty for a public client).
// The secret is shown only here: only its hash is stored.
func (a *Admin) AddClient(ctx context.Context, sc StaticClient) (*ClientInfo, string, error) {
	meta := &ClientMetadata{
		RedirectURIs: sc.RedirectURIs, ClientName: sc.Name, GrantTypes: sc.GrantTypes,
		TokenEndpointAuthMethod: AuthMethodNone,
	}
	if meta.GrantTypes == nil {
		meta.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	switch {
	case sc.JWKS != nil:
		meta.TokenEndpointAuthMethod, meta.JWKS = AuthMethodPrivateKeyJWT, sc.JWKS
	case sc.Confidential:
		meta.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
	}
	err := meta.Validate(ValidateOptions{AuthMethods: append(slices.Clone(DefaultAuthMethods), AuthMethodPrivateKeyJWT)})
	if err == nil {
		err = checkClientKeys(meta)
	}
	if err != nil {
		return nil, "", err
	}
	for _, scope := range sc.Scopes {
		if !validScopeToken(scope) {
			return nil, "", fmt.Errorf("invalid scope %q", scope)
		}
	}
	id := sc.ID
	if id == "" {
		id = newClientID(a.now())
	} else if strings.Contains(id, ":") || strings.ContainsAny(id, " \t\r\n") {
		return nil, "", fmt.Errorf("client ID %q must not contain a colon (URLs are Client ID Metadata Documents) or spaces", id)
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, "", err
	}
	stored := &store.Client{
		ID: id, Kind: store.ClientStatic, Metadata: metaJSON, Scopes: sc.Scopes, QuotaTier: sc.QuotaTier,
		CreatedAt: a.now().UTC(),
	}
	var secret string
	if meta.TokenEndpointAuthMethod == AuthMethodClientSecretBasic {
		secret = newSecret("mcs_")
		stored.SecretHash = a.secrets.hash(kindClientSecret, secret)
	}
	if err := a.store.CreateClient(ctx, stored); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", fmt.Errorf("a client with ID %q exists: %w", id, err)
		}
		return nil, "", err
	}
	return clientInfo(&client{id: id, kind: stored.Kind, meta: meta, stored: stored}), secret, nil
}

// GetClient returns a stored client.
func (a *Admin) GetClient(ctx context.Context, id string) (*ClientInfo, error) {
	sc, err := a.store.GetClient(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := clientFromStore(sc)
	if err != nil {
		return nil, err
	}
	return clientInfo(c), nil
}

// ListClients returns every stored client, pre-registered and self-registered.
func (a *Admin) ListClients(ctx context.Context) ([]*ClientInfo, error) {
	all, err := a.store.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*ClientInfo, 0, len(all))
	for _, sc := range all {
		c, err := clientFromStore(sc)
		if err != nil {
			return nil, err
		}
		out = append(out, clientInfo(c))
	}
	return out, nil
}

// RemoveClient deletes a client and revokes every grant it holds.
func (a *Admin) RemoveClient(ctx context.Context, id string) error {
	return a.store.DeleteClient(ctx, id)
}
