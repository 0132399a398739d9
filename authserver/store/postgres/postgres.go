// Package postgres is the store.Store of the authorization server on PostgreSQL (pgx/v5), for
// several server instances sharing one database. Its schema has the same tables and columns as
// the SQLite store's and is migrated when a store opens. Single-use operations lock the rows
// they decide on (SELECT ... FOR UPDATE), so concurrent redemptions of one code or rotations of
// one refresh token are serialised by PostgreSQL, whichever instance serves them.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at dsn (a PostgreSQL URL or key=value string, see
// pgxpool.ParseConfig; pool_max_conns sizes the pool) and migrates its schema to the current
// version. It refuses a database whose schema is newer than this program knows.
func Open(ctx context.Context, dsn string) (*Store, error) {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool}, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// ms converts a time to Unix milliseconds, the zero time to 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// tm converts Unix milliseconds back, 0 to the zero time.
func tm(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func join(l []string) string { return strings.Join(l, " ") }

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, " ")
}

// ErrInvalidText: a value to store is not valid UTF-8 or holds a NUL byte, which PostgreSQL
// text cannot hold (SQLite can).
var ErrInvalidText = errors.New("postgres: text must be valid UTF-8 without NUL bytes")

// PostgreSQL error codes (Appendix A of its manual).
const (
	uniqueViolation          = "23505"
	characterNotInRepertoire = "22021" // invalid UTF-8 or NUL in text
	serializationFailure     = "40001"
	deadlockDetected         = "40P01"
)

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// conflict maps the errors of an insert: a uniqueness violation to store.ErrConflict, text
// PostgreSQL cannot hold to ErrInvalidText.
func conflict(err error) error {
	switch pgCode(err) {
	case uniqueViolation:
		return store.ErrConflict
	case characterNotInRepertoire:
		return ErrInvalidText
	}
	return err
}

// notFound maps the errors of a lookup to store.ErrNotFound: no row, or a key PostgreSQL cannot
// even hold (invalid UTF-8 or NUL, e.g. a client_id from a hostile request), which no stored
// record has. SQLite answers the same for such keys.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) || pgCode(err) == characterNotInRepertoire {
		return store.ErrNotFound
	}
	return err
}

// affected returns store.ErrNotFound when the command changed no row (or, as notFound, its key
// cannot exist).
func affected(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return notFound(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inTx runs fn in a transaction, committing when fn returns nil. A store.ErrAlreadyUsed from fn
// also commits, because what fn wrote (a revocation) must persist. A transaction PostgreSQL
// aborts as a deadlock victim or serialization failure is retried.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if c := pgCode(err); (c == deadlockDetected || c == serializationFailure) && attempt < 5 {
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	ferr := fn(tx)
	if ferr != nil && !errors.Is(ferr, store.ErrAlreadyUsed) {
		return ferr
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	return ferr
}

// collect scans every row with scan.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Row) (*T, error)) ([]*T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// --- clients

const clientCols = `id, kind, secret_hash, secret_expires_at, registration_token_hash, metadata, scopes, quota_tier, created_at, last_used_at`

func scanClient(row pgx.Row) (*store.Client, error) {
	var c store.Client
	var kind, meta string
	var scopes *string
	var secretExp, created, used int64
	if err := row.Scan(&c.ID, &kind, &c.SecretHash, &secretExp, &c.RegistrationTokenHash, &meta, &scopes, &c.QuotaTier, &created, &used); err != nil {
		return nil, notFound(err)
	}
	c.Kind = store.ClientKind(kind)
	c.Metadata = []byte(meta)
	if scopes != nil {
		c.Scopes = split(*scopes)
	}
	c.SecretExpiresAt, c.CreatedAt, c.LastUsedAt = tm(secretExp), tm(created), tm(used)
	return &c, nil
}

// clientScopes is NULL for nil scopes (any scope), else the joined list.
func clientScopes(c *store.Client) *string {
	if c.Scopes == nil {
		return nil
	}
	j := join(c.Scopes)
	return &j
}

func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		c.ID, string(c.Kind), c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata),
		clientScopes(c), c.QuotaTier, ms(c.CreatedAt), ms(c.LastUsedAt))
	return conflict(err)
}

func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(s.pool.QueryRow(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
}

func (s *Store) UpdateClient(ctx context.Context, c *store.Client) error {
	return affected(s.pool.Exec(ctx, `UPDATE clients SET secret_hash = $1, secret_expires_at = $2,
		registration_token_hash = $3, metadata = $4, scopes = $5, quota_tier = $6, last_used_at = $7 WHERE id = $8`,
		c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata), clientScopes(c),
		c.QuotaTier, ms(c.LastUsedAt), c.ID))
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return deleteClient(ctx, tx, id, time.Now()) })
}

// deleteClient removes a client and its consents and revokes its grants.
func deleteClient(ctx context.Context, tx pgx.Tx, id string, now time.Time) error {
	if err := affected(tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM consents WHERE client_id = $1`, id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at = 0`, ms(now), id)
	return err
}

func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	return collect(rows, err, scanClient)
}

func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE clients SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1`, ms(at), id)
	return err
}

func (s *Store) DeleteUnusedClients(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM clients WHERE kind = $1 AND GREATEST(created_at, last_used_at) < $2
			ORDER BY id FOR UPDATE`, string(store.ClientDynamic), ms(cutoff))
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		now := time.Now()
		for _, id := range ids {
			if err := deleteClient(ctx, tx, id, now); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// --- users

const userCols = `id, username, password_hash, scopes, created_at`

func scanUser(row pgx.Row) (*store.User, error) {
	var u store.User
	var scopes string
	var created int64
	if err := row.Scan(&u.ID, &u.Username, &u.PasswordHash, &scopes, &created); err != nil {
		return nil, notFound(err)
	}
	u.Scopes, u.CreatedAt = split(scopes), tm(created)
	return &u, nil
}

func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5)`,
		u.ID, u.Username, u.PasswordHash, join(u.Scopes), ms(u.CreatedAt))
	return conflict(err)
}

func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

func (s *Store) GetUserByName(ctx context.Context, username string) (*store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
}

func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return affected(s.pool.Exec(ctx, `UPDATE users SET password_hash = $1, scopes = $2 WHERE id = $3`,
		u.PasswordHash, join(u.Scopes), u.ID))
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := affected(tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = $1`, `DELETE FROM consents WHERE user_id = $1`} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE grants SET revoked_at = $1 WHERE subject = $2 AND revoked_at = 0`, ms(time.Now()), id)
		return err
	})
}

func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	return collect(rows, err, scanUser)
}

// --- consents

func (s *Store) GetConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	var scopes string
	err := s.pool.QueryRow(ctx, `SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID).Scan(&scopes)
	if err != nil {
		return nil, notFound(err)
	}
	return split(scopes), nil
}

func (s *Store) SaveConsent(ctx context.Context, userID, clientID string, scopes []string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO consents (user_id, client_id, scopes, updated_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		userID, clientID, join(scopes), ms(at))
	return err
}

// --- sessions

func (s *Store) CreateSession(ctx context.Context, se *store.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)`,
		se.Hash, se.UserID, ms(se.CreatedAt), ms(se.ExpiresAt))
	return conflict(err)
}

func (s *Store) GetSession(ctx context.Context, hash string, now time.Time) (*store.Session, error) {
	se := store.Session{Hash: hash}
	var created, expires int64
	err := s.pool.QueryRow(ctx, `SELECT user_id, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2`,
		hash, ms(now)).Scan(&se.UserID, &created, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	se.CreatedAt, se.ExpiresAt = tm(created), tm(expires)
	return &se, nil
}

func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return err
}

// --- grants and codes

const grantCols = `id, client_id, subject, scopes, resources, created_at, expires_at, revoked_at`

// execer is what both the pool and a transaction offer.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertGrant(ctx context.Context, ex execer, g *store.Grant) error {
	_, err := ex.Exec(ctx, `INSERT INTO grants (`+grantCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		g.ID, g.ClientID, g.Subject, join(g.Scopes), join(g.Resources), ms(g.CreatedAt), ms(g.ExpiresAt), ms(g.RevokedAt))
	return conflict(err)
}

func (s *Store) CreateGrant(ctx context.Context, g *store.Grant) error {
	return insertGrant(ctx, s.pool, g)
}

func (s *Store) GetGrant(ctx context.Context, id string) (*store.Grant, error) {
	var g store.Grant
	var scopes, resources string
	var created, expires, revoked int64
	err := s.pool.QueryRow(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id).
		Scan(&g.ID, &g.ClientID, &g.Subject, &scopes, &resources, &created, &expires, &revoked)
	if err != nil {
		return nil, notFound(err)
	}
	g.Scopes, g.Resources = split(scopes), split(resources)
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = tm(created), tm(expires), tm(revoked)
	return &g, nil
}

func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	return revokeGrant(ctx, s.pool, id, now)
}

// revokeGrant sets revoked_at unless it is set already (the first revocation time stays).
func revokeGrant(ctx context.Context, ex execer, id string, now time.Time) error {
	tag, err := ex.Exec(ctx, `UPDATE grants SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
		WHERE id = $2`, ms(now), id)
	return affected(tag, err)
}

func (s *Store) CreateAuthCode(ctx context.Context, g *store.Grant, c *store.AuthCode) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO auth_codes (hash, grant_id, client_id, subject, redirect_uri,
			code_challenge, scopes, resources, created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
			c.Hash, c.GrantID, c.ClientID, c.Subject, c.RedirectURI, c.CodeChallenge, join(c.Scopes), join(c.Resources),
			ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.UsedAt))
		return conflict(err)
	})
}

// RedeemAuthCode locks the code's row and its grant's, so of concurrent redemptions — from
// any instance — the first marks the code used and every later one sees it used.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	var c *store.AuthCode
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c = &store.AuthCode{Hash: hash}
		var scopes, resources string
		var created, expires, used, revoked int64
		err := tx.QueryRow(ctx, `SELECT c.grant_id, c.client_id, c.subject, c.redirect_uri, c.code_challenge,
			c.scopes, c.resources, c.created_at, c.expires_at, c.used_at, g.revoked_at
			FROM auth_codes c JOIN grants g ON g.id = c.grant_id WHERE c.hash = $1 FOR UPDATE OF c, g`, hash).
			Scan(&c.GrantID, &c.ClientID, &c.Subject, &c.RedirectURI, &c.CodeChallenge, &scopes, &resources,
				&created, &expires, &used, &revoked)
		if err != nil {
			c = nil
			return notFound(err)
		}
		c.Scopes, c.Resources = split(scopes), split(resources)
		c.CreatedAt, c.ExpiresAt, c.UsedAt = tm(created), tm(expires), tm(used)
		switch {
		case used != 0:
			return store.ErrAlreadyUsed
		case revoked != 0:
			return store.ErrRevoked
		}
		c.UsedAt = tm(ms(now))
		_, err = tx.Exec(ctx, `UPDATE auth_codes SET used_at = $1 WHERE hash = $2`, ms(now), hash)
		return err
	})
	return c, err
}

// --- refresh tokens

func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return insertRefresh(ctx, s.pool, t)
}

func insertRefresh(ctx context.Context, ex execer, t *store.RefreshToken) error {
	_, err := ex.Exec(ctx, `INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at)
		VALUES ($1,$2,$3,$4,$5,$6)`, t.Hash, t.GrantID, t.ClientID, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt))
	return conflict(err)
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	t := store.RefreshToken{Hash: hash}
	var created, expires, used int64
	err := s.pool.QueryRow(ctx, `SELECT grant_id, client_id, created_at, expires_at, used_at FROM refresh_tokens WHERE hash = $1`,
		hash).Scan(&t.GrantID, &t.ClientID, &created, &expires, &used)
	if err != nil {
		return nil, notFound(err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(created), tm(expires), tm(used)
	return &t, nil
}

// RotateRefreshToken locks the token's row and its grant's: concurrent rotations of one token
// are serialised, and a grant revoked meanwhile cannot gain a new token.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var grantID string
		var used, revoked int64
		err := tx.QueryRow(ctx, `SELECT r.grant_id, r.used_at, g.revoked_at FROM refresh_tokens r
			JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1 FOR UPDATE OF r, g`, oldHash).Scan(&grantID, &used, &revoked)
		if err != nil {
			return notFound(err)
		}
		switch {
		case revoked != 0:
			return store.ErrRevoked
		case used != 0:
			if err := revokeGrant(ctx, tx, grantID, now); err != nil {
				return err
			}
			return store.ErrAlreadyUsed
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2`, ms(now), oldHash); err != nil {
			return err
		}
		n := *next
		n.GrantID = grantID
		return insertRefresh(ctx, tx, &n)
	})
}

// --- access tokens

func (s *Store) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO access_tokens (jti, grant_id, client_id, subject, expires_at, revoked_at)
		VALUES ($1,$2,$3,$4,$5,$6)`, t.JTI, t.GrantID, t.ClientID, t.Subject, ms(t.ExpiresAt), ms(t.RevokedAt))
	return conflict(err)
}

func (s *Store) GetAccessToken(ctx context.Context, jti string) (*store.AccessToken, error) {
	t := store.AccessToken{JTI: jti}
	var expires, revoked int64
	err := s.pool.QueryRow(ctx, `SELECT grant_id, client_id, subject, expires_at, revoked_at FROM access_tokens WHERE jti = $1`,
		jti).Scan(&t.GrantID, &t.ClientID, &t.Subject, &expires, &revoked)
	if err != nil {
		return nil, notFound(err)
	}
	t.ExpiresAt, t.RevokedAt = tm(expires), tm(revoked)
	return &t, nil
}

func (s *Store) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	return affected(s.pool.Exec(ctx, `UPDATE access_tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
		WHERE jti = $2`, ms(now), jti))
}

// --- signing keys

func (s *Store) AddSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted, created_at, sign_until, publish_until)
		VALUES ($1,$2,$3,$4,$5,$6)`, k.ID, k.Algorithm, k.Encrypted, ms(k.CreatedAt), ms(k.SignUntil), ms(k.PublishUntil))
	return conflict(err)
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, algorithm, encrypted, created_at, sign_until, publish_until
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	return collect(rows, err, func(row pgx.Row) (*store.SigningKey, error) {
		var k store.SigningKey
		var created, signUntil, publishUntil int64
		if err := row.Scan(&k.ID, &k.Algorithm, &k.Encrypted, &created, &signUntil, &publishUntil); err != nil {
			return nil, err
		}
		k.CreatedAt, k.SignUntil, k.PublishUntil = tm(created), tm(signUntil), tm(publishUntil)
		return &k, nil
	})
}

// --- expiry

func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		n = 0
		for _, q := range []string{
			`DELETE FROM sessions WHERE expires_at <= $1`,
			`DELETE FROM device_codes WHERE expires_at <= $1`,
			`DELETE FROM auth_codes WHERE grant_id IN (SELECT id FROM grants WHERE expires_at <= $1)
				OR (used_at = 0 AND expires_at <= $1)`,
			// Refresh tokens, used ones included, live as long as their grant, so that the reuse
			// of a rotated token is detected for the grant's whole life.
			`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE expires_at <= $1)`,
			`DELETE FROM access_tokens WHERE expires_at <= $1 OR grant_id IN (SELECT id FROM grants WHERE expires_at <= $1)`,
			`DELETE FROM grants WHERE expires_at <= $1`,
			`DELETE FROM signing_keys WHERE publish_until <= $1`,
		} {
			tag, err := tx.Exec(ctx, q, ms(now))
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}
