// Package store is the persistence interface of the authorization server: clients (RFC 7591), users,
// consents, login sessions, grants with their authorization codes and refresh tokens (RFC 6749),
// the access tokens revoked before their expiry (RFC 7009) and signing keys. Issued access tokens
// are not recorded: they are self-contained JWTs (RFC 9068), so issuing one writes nothing.
//
// Two implementations share one portable schema, one SQL core (internal/sqlstore) and one test
// suite (package storetest): sqlite (embedded, the default) and postgres (several server
// instances on one database). Every
// operation whose outcome must not depend on which instance serves a request is a single atomic
// store method: RedeemAuthCode (single use), RotateRefreshToken (rotation with reuse detection)
// and RevokeGrant. PostgreSQL serialises them with row locks (SELECT ... FOR UPDATE), SQLite
// with immediate transactions that take its write lock.
//
// The store never sees a secret: codes, refresh tokens, session IDs, client secrets and
// registration access tokens arrive as hashes computed by the server; signing keys arrive
// encrypted. Times are kept with at least millisecond precision. Lists of scopes and resources
// hold values without spaces (RFC 6749 §3.3 scope tokens, absolute URIs), so an implementation
// may store them space-separated.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store implementation; test with errors.Is.
var (
	// ErrNotFound: no record with that key exists.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a record with that key already exists.
	ErrConflict = errors.New("store: already exists")
	// ErrAlreadyUsed: a single-use authorization code or refresh token was presented again.
	ErrAlreadyUsed = errors.New("store: already used")
	// ErrRevoked: the grant the code or token belongs to has been revoked.
	ErrRevoked = errors.New("store: grant revoked")
)

// ClientKind says how a client came to exist.
type ClientKind string

const (
	// ClientDynamic was self-registered through RFC 7591 dynamic client registration; it
	// expires when unused (DeleteUnusedClients).
	ClientDynamic ClientKind = "dynamic"
	// ClientStatic was pre-registered by an operator (mcpauth clients add) and never expires.
	ClientStatic ClientKind = "static"
)

// Client is a registered OAuth client. Clients identified by a Client ID Metadata Document URL
// are not stored: their metadata is fetched and cached.
type Client struct {
	ID   string
	Kind ClientKind
	// SecretHash is the keyed hash of the client secret; empty for public clients.
	SecretHash string
	// SecretExpiresAt is when the secret expires; zero means never (RFC 7591 §3.2.1).
	SecretExpiresAt time.Time
	// RegistrationTokenHash is the hash of the RFC 7592 registration access token; empty when
	// the client has none (pre-registered clients).
	RegistrationTokenHash string
	// Metadata is the client's metadata as a JSON object (RFC 7591 §2), opaque to the store.
	Metadata []byte
	// Scopes limits the scopes the client may obtain; nil means any scope the server serves.
	Scopes []string
	// QuotaTier names the rate-limit tier resource servers apply to the client; may be empty.
	QuotaTier  string
	CreatedAt  time.Time
	LastUsedAt time.Time
}

// User is a person who logs in at the authorization server.
type User struct {
	// ID is the stable subject identifier (the "sub" claim); it never changes.
	ID string
	// Username is unique and what the user types at the login page.
	Username string
	// PasswordHash is a PHC-format password hash (argon2id).
	PasswordHash string
	// Scopes are the scopes the user may grant to clients.
	Scopes    []string
	CreatedAt time.Time
}

// Session is a browser login session at the authorization server.
type Session struct {
	// Hash is the hash of the session ID held in the session cookie.
	Hash      string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Grant is one authorization given to a client by a user: the family of one authorization code
// (or device code), the refresh tokens rotated from it and every access token issued under it.
// Revoking the grant revokes all of them. The client_credentials grant has no record: there the
// grant is the client itself.
type Grant struct {
	ID       string
	ClientID string
	// Subject is the user ID.
	Subject   string
	Scopes    []string
	Resources []string
	CreatedAt time.Time
	// ExpiresAt bounds the lifetime of the whole family, whatever the rotations.
	ExpiresAt time.Time
	// RevokedAt is zero while the grant is active.
	RevokedAt time.Time
	// SubjectScopes are the subject's scopes as the user record has them now, nil when it no
	// longer exists. Only GetRefreshToken and RotateRefreshToken fill them, so that a refresh,
	// which may not outlive the user's scopes, reads once.
	SubjectScopes []string
}

// AuthCode is an authorization code (RFC 6749 §4.1.2) with what it was issued for.
type AuthCode struct {
	Hash          string
	GrantID       string
	ClientID      string
	Subject       string
	RedirectURI   string
	CodeChallenge string // S256 code challenge (RFC 7636 §4.2)
	Scopes        []string
	Resources     []string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// UsedAt is zero until the code is redeemed.
	UsedAt time.Time
}

// RefreshToken is one refresh token of a grant's rotation chain.
type RefreshToken struct {
	// Hash is the token's key: its keyed hash, after the time it was issued for tokens that
	// carry it, so that the keys of new tokens grow (see the server's refresh_token.go).
	Hash      string
	GrantID   string
	ClientID  string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is zero until the token is rotated; a rotated token presented again is a reuse.
	UsedAt time.Time
}

// RotationDecision decides a refresh token's rotation (Store.RotateRefreshToken) from the token
// and its grant as the store read them: it returns the next token, or why there is none.
type RotationDecision func(old *RefreshToken, g *Grant) (next *RefreshToken, err error)

// SigningKey is a token signing key; the private key is encrypted by the server before it
// reaches the store.
type SigningKey struct {
	ID        string // the JWK "kid"
	Algorithm string // the JWS "alg", e.g. ES256
	// Encrypted is the private key encrypted with the server's key encryption key.
	Encrypted []byte
	CreatedAt time.Time
	// SignUntil: the key signs new tokens until then.
	SignUntil time.Time
	// PublishUntil: the key stays in the JWKS until then, after the last token it signed expired.
	PublishUntil time.Time
}

// DeviceCode is a pending device authorization (RFC 8628 §3.2): the device polls with the
// device code while the user enters the user code at the verification page and decides.
type DeviceCode struct {
	// Hash is the hash of the device code the device polls with.
	Hash string
	// UserCodeHash is the hash of the normalised user code the user types.
	UserCodeHash string
	ClientID     string
	Scopes       []string
	Resources    []string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	// LastPolledAt is when the device last polled (zero before), for slow_down (§3.5).
	LastPolledAt time.Time
	// DecidedAt is zero while the user has not decided; then Approved says how, and an
	// approval names the user (Subject) and the grant it created (GrantID).
	DecidedAt time.Time
	Approved  bool
	Subject   string
	GrantID   string
	// UsedAt is zero until the device has received its tokens.
	UsedAt time.Time
}

// DeviceStore is implemented by stores that support the device authorization grant (RFC 8628).
// It is separate from Store so that an implementation can add it later; the server offers the
// device grant only on a store that implements it.
type DeviceStore interface {
	// CreateDeviceCode stores a new pending device authorization; ErrConflict if the device
	// code or user code hash exists.
	CreateDeviceCode(ctx context.Context, d *DeviceCode) error
	// GetDeviceCodeByUserCode returns the undecided, unexpired (at time now) authorization with
	// that user code, or ErrNotFound.
	GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (*DeviceCode, error)
	// DecideDeviceCode records the user's decision on the undecided, unexpired authorization
	// with that user code; an approval stores g, the grant it creates, in the same transaction.
	// ErrNotFound if there is no such authorization, ErrAlreadyUsed if it was decided already.
	DecideDeviceCode(ctx context.Context, userCodeHash string, approve bool, subject string, g *Grant, now time.Time) error
	// PollDeviceCode records a poll at time now and returns the authorization as it was before
	// the poll (so LastPolledAt is the previous poll). When it is approved and its tokens were
	// not yet delivered, it is marked used in the same step, so exactly one poll receives the
	// tokens; later polls get the record with UsedAt set and ErrAlreadyUsed. ErrNotFound if the
	// device code is unknown.
	PollDeviceCode(ctx context.Context, hash string, now time.Time) (*DeviceCode, error)
}

// Store is the persistence of the authorization server. Implementations are safe for
// concurrent use by many goroutines and by several processes sharing one database.
type Store interface {
	AssertionStore    // accepted private_key_jwt client assertions (assertion_jti.go)
	LockoutResetStore // an operator's unlocking of an account (lockout_reset.go)
	LockoutStore      // failed sign-ins, for the login lockout (lockout.go)
	RateCountStore    // rate limits shared by every instance (ratecount.go)
	// CreateClient stores a new client; ErrConflict if the ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// GetClient returns the client or ErrNotFound.
	GetClient(ctx context.Context, id string) (*Client, error)
	// UpdateClient replaces every field of an existing client but ID, Kind and CreatedAt;
	// ErrNotFound if it does not exist.
	UpdateClient(ctx context.Context, c *Client) error
	// DeleteClient removes the client, its consents, and revokes its grants; ErrNotFound if it
	// does not exist.
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns every client ordered by creation time, then ID.
	ListClients(ctx context.Context) ([]*Client, error)
	// TouchClient sets the client's LastUsedAt to at if that is later than the stored value.
	TouchClient(ctx context.Context, id string, at time.Time) error
	// DeleteUnusedClients deletes dynamic clients last used (or created, if never used)
	// before cutoff, as DeleteClient does, and returns how many it deleted.
	DeleteUnusedClients(ctx context.Context, cutoff time.Time) (int, error)

	// CreateUser stores a new user; ErrConflict if the ID or username exists.
	CreateUser(ctx context.Context, u *User) error
	// GetUser returns the user with that ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByName returns the user with that username, or ErrNotFound.
	GetUserByName(ctx context.Context, username string) (*User, error)
	// UpdateUser replaces the password hash and scopes of an existing user; ErrNotFound if it
	// does not exist.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the user, their sessions and consents, and revokes their grants;
	// ErrNotFound if it does not exist.
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]*User, error)

	// GetConsent returns the scopes the user has consented to for the client, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) ([]string, error)
	// SaveConsent records (replacing any previous record) the scopes the user consented to for
	// the client.
	SaveConsent(ctx context.Context, userID, clientID string, scopes []string, at time.Time) error

	// CreateSession stores a new login session; ErrConflict if the hash exists.
	CreateSession(ctx context.Context, s *Session) error
	// GetSession returns the session or ErrNotFound (also when it has expired at time now).
	GetSession(ctx context.Context, hash string, now time.Time) (*Session, error)
	// DeleteSession removes the session; deleting a missing session is not an error.
	DeleteSession(ctx context.Context, hash string) error

	// CreateAuthCode stores a new grant together with the authorization code that starts it.
	CreateAuthCode(ctx context.Context, g *Grant, c *AuthCode) error
	// RedeemAuthCode marks the code used at time now and returns it. Exactly one of any number
	// of concurrent calls for one code succeeds. A code already used yields the code and
	// ErrAlreadyUsed (the caller then revokes its grant); a code of a revoked grant yields the
	// code and ErrRevoked; an unknown code yields ErrNotFound. Expiry is the caller's check.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*AuthCode, error)

	// GetGrant returns the grant or ErrNotFound.
	GetGrant(ctx context.Context, id string) (*Grant, error)
	// RevokeGrant marks the grant revoked at time now, which revokes its codes, refresh tokens
	// and access tokens. Revoking twice keeps the first time; ErrNotFound if it does not exist.
	RevokeGrant(ctx context.Context, id string, now time.Time) error

	// CreateRefreshToken stores the first refresh token of a grant.
	CreateRefreshToken(ctx context.Context, t *RefreshToken) error
	// GetRefreshToken returns the refresh token and its grant with SubjectScopes (one read), or
	// ErrNotFound.
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, *Grant, error)
	// RotateRefreshToken rotates the refresh token oldHash at time now (OAuth 2.1 §4.3.1): it
	// reads the token with its grant (SubjectScopes filled), asks decide, and then marks the
	// token used and stores the next one decide returned in the token's grant (its GrantID is
	// ignored), provided the token is still unused and its grant not revoked: exactly one of any
	// number of concurrent rotations of one token succeeds, and the others are reuses.
	//
	// decide sees the token and grant as read, used or revoked ones too. When it returns an
	// error, nothing is written and that error is returned as it is. Otherwise a token already
	// used is a reuse: the whole grant is revoked and ErrAlreadyUsed returned (RFC 9700
	// §4.14.2); a token of a revoked grant yields ErrRevoked; in both cases what decide returned
	// is ignored (it may be nil). An unknown oldHash yields ErrNotFound without calling decide.
	//
	// decide may run inside the store's write transaction, and more than once for one rotation
	// (when the store runs the transaction again); only the last call's result counts. It must
	// therefore be quick, answer a second call as the first, and not call the store: on a store
	// with a single writer, that call would wait for the very write decide runs in.
	RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, decide RotationDecision) error

	// RevokeAccessToken records that the access token with that jti, which expires at
	// expiresAt, is revoked (RFC 7009 §2.1); revoking it again is not an error. DeleteExpired
	// forgets it once it has expired.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// AccessTokenRevoked reports whether RevokeAccessToken recorded the jti.
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)

	// AddSigningKey stores a new signing key; ErrConflict if the ID exists.
	AddSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored signing key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)

	// DeleteExpired removes what has expired at time now: sessions; device codes (in a
	// DeviceStore); grants past their ExpiresAt with all their codes and tokens; unused codes
	// and revoked access tokens past their own expiry; signing keys past PublishUntil.
	// Refresh tokens, used ones included, live as long as their grant, so a reused rotated
	// token is detected for the grant's whole life. It returns how many records it removed.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)

	// Close releases the store's resources.
	Close() error
}
