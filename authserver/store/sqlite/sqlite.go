// Package sqlite is the embedded store.Store of the authorization server, on SQLite through the
// pure-Go modernc.org/sqlite driver, in WAL mode. Writes that must be atomic run in immediate
// transactions, so concurrent redemptions of one code or rotations of one refresh token are
// serialised by SQLite's write lock, also across processes sharing the file.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mcpauth/mcpauth/authserver/store"
)

//go:embed schema.sql
var schema string

// Store is a store.Store on one SQLite database file.
type Store struct {
	db *sql.DB
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path and applies the schema.
func Open(path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: apply schema to %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

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

// isConstraint reports whether err is a uniqueness (primary key or unique) violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

// notFound maps sql.ErrNoRows to store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// affected returns store.ErrNotFound when res changed no row.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inTx runs fn in an immediate transaction, committing when fn returns nil. A store.ErrAlreadyUsed
// returned by fn also commits, because what fn wrote (a revocation) must persist.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ferr := fn(tx)
	if ferr != nil && !errors.Is(ferr, store.ErrAlreadyUsed) {
		tx.Rollback()
		return ferr
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return ferr
}

// --- clients

const clientCols = `id, kind, secret_hash, secret_expires_at, registration_token_hash, metadata, scopes, quota_tier, created_at, last_used_at`

func scanClient(row interface{ Scan(...any) error }) (*store.Client, error) {
	var c store.Client
	var kind, meta string
	var scopes sql.NullString
	var secretExp, created, used int64
	if err := row.Scan(&c.ID, &kind, &c.SecretHash, &secretExp, &c.RegistrationTokenHash, &meta, &scopes, &c.QuotaTier, &created, &used); err != nil {
		return nil, notFound(err)
	}
	c.Kind = store.ClientKind(kind)
	c.Metadata = []byte(meta)
	if scopes.Valid {
		c.Scopes = split(scopes.String)
	}
	c.SecretExpiresAt, c.CreatedAt, c.LastUsedAt = tm(secretExp), tm(created), tm(used)
	return &c, nil
}

func clientScopes(c *store.Client) sql.NullString {
	return sql.NullString{String: join(c.Scopes), Valid: c.Scopes != nil}
}

func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		c.ID, string(c.Kind), c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata),
		clientScopes(c), c.QuotaTier, ms(c.CreatedAt), ms(c.LastUsedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return scanClient(s.db.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = ?`, id))
}

func (s *Store) UpdateClient(ctx context.Context, c *store.Client) error {
	return affected(s.db.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, secret_expires_at = ?,
		registration_token_hash = ?, metadata = ?, scopes = ?, quota_tier = ?, last_used_at = ? WHERE id = ?`,
		c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata), clientScopes(c),
		c.QuotaTier, ms(c.LastUsedAt), c.ID))
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return deleteClient(ctx, tx, id, time.Now()) })
}

func deleteClient(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	if err := affected(tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM consents WHERE client_id = ?`, id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE client_id = ? AND revoked_at = 0`, ms(now), id)
	return err
}

func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE clients SET last_used_at = ? WHERE id = ? AND last_used_at < ?`, ms(at), id, ms(at))
	return err
}

func (s *Store) DeleteUnusedClients(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM clients WHERE kind = ? AND MAX(created_at, last_used_at) < ?`,
			string(store.ClientDynamic), ms(cutoff))
		if err != nil {
			return err
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
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

func scanUser(row interface{ Scan(...any) error }) (*store.User, error) {
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
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?,?,?,?,?)`,
		u.ID, u.Username, u.PasswordHash, join(u.Scopes), ms(u.CreatedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

func (s *Store) GetUserByName(ctx context.Context, username string) (*store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, username))
}

func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return affected(s.db.ExecContext(ctx, `UPDATE users SET password_hash = ?, scopes = ? WHERE id = ?`,
		u.PasswordHash, join(u.Scopes), u.ID))
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := affected(tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM sessions WHERE user_id = ?`, `DELETE FROM consents WHERE user_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE subject = ? AND revoked_at = 0`, ms(time.Now()), id)
		return err
	})
}

func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// --- consents

func (s *Store) GetConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	var scopes string
	err := s.db.QueryRowContext(ctx, `SELECT scopes FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID).Scan(&scopes)
	if err != nil {
		return nil, notFound(err)
	}
	return split(scopes), nil
}

func (s *Store) SaveConsent(ctx context.Context, userID, clientID string, scopes []string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, updated_at) VALUES (?,?,?,?)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		userID, clientID, join(scopes), ms(at))
	return err
}

// --- sessions

func (s *Store) CreateSession(ctx context.Context, se *store.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES (?,?,?,?)`,
		se.Hash, se.UserID, ms(se.CreatedAt), ms(se.ExpiresAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetSession(ctx context.Context, hash string, now time.Time) (*store.Session, error) {
	se := store.Session{Hash: hash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT user_id, created_at, expires_at FROM sessions WHERE hash = ? AND expires_at > ?`,
		hash, ms(now)).Scan(&se.UserID, &created, &expires)
	if err != nil {
		return nil, notFound(err)
	}
	se.CreatedAt, se.ExpiresAt = tm(created), tm(expires)
	return &se, nil
}

func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
	return err
}

// --- grants and codes

const grantCols = `id, client_id, subject, scopes, resources, created_at, expires_at, revoked_at`

func insertGrant(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, g *store.Grant) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`) VALUES (?,?,?,?,?,?,?,?)`,
		g.ID, g.ClientID, g.Subject, join(g.Scopes), join(g.Resources), ms(g.CreatedAt), ms(g.ExpiresAt), ms(g.RevokedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) CreateGrant(ctx context.Context, g *store.Grant) error {
	return insertGrant(ctx, s.db, g)
}

func (s *Store) GetGrant(ctx context.Context, id string) (*store.Grant, error) {
	var g store.Grant
	var scopes, resources string
	var created, expires, revoked int64
	err := s.db.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id).
		Scan(&g.ID, &g.ClientID, &g.Subject, &scopes, &resources, &created, &expires, &revoked)
	if err != nil {
		return nil, notFound(err)
	}
	g.Scopes, g.Resources = split(scopes), split(resources)
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = tm(created), tm(expires), tm(revoked)
	return &g, nil
}

func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return revokeGrant(ctx, tx, id, now) })
}

func revokeGrant(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	var revoked int64
	if err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM grants WHERE id = ?`, id).Scan(&revoked); err != nil {
		return notFound(err)
	}
	if revoked != 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE grants SET revoked_at = ? WHERE id = ?`, ms(now), id)
	return err
}

func (s *Store) CreateAuthCode(ctx context.Context, g *store.Grant, c *store.AuthCode) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := insertGrant(ctx, tx, g); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO auth_codes (hash, grant_id, client_id, subject, redirect_uri,
			code_challenge, scopes, resources, created_at, expires_at, used_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			c.Hash, c.GrantID, c.ClientID, c.Subject, c.RedirectURI, c.CodeChallenge, join(c.Scopes), join(c.Resources),
			ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.UsedAt))
		if isConstraint(err) {
			return store.ErrConflict
		}
		return err
	})
}

func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	var c *store.AuthCode
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		c = &store.AuthCode{Hash: hash}
		var scopes, resources string
		var created, expires, used, revoked int64
		err := tx.QueryRowContext(ctx, `SELECT c.grant_id, c.client_id, c.subject, c.redirect_uri, c.code_challenge,
			c.scopes, c.resources, c.created_at, c.expires_at, c.used_at, g.revoked_at
			FROM auth_codes c JOIN grants g ON g.id = c.grant_id WHERE c.hash = ?`, hash).
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
		_, err = tx.ExecContext(ctx, `UPDATE auth_codes SET used_at = ? WHERE hash = ?`, ms(now), hash)
		return err
	})
	return c, err
}

// --- refresh tokens

func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return insertRefresh(ctx, s.db, t)
}

func insertRefresh(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, t *store.RefreshToken) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at)
		VALUES (?,?,?,?,?,?)`, t.Hash, t.GrantID, t.ClientID, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, error) {
	t := store.RefreshToken{Hash: hash}
	var created, expires, used int64
	err := s.db.QueryRowContext(ctx, `SELECT grant_id, client_id, created_at, expires_at, used_at FROM refresh_tokens WHERE hash = ?`,
		hash).Scan(&t.GrantID, &t.ClientID, &created, &expires, &used)
	if err != nil {
		return nil, notFound(err)
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(created), tm(expires), tm(used)
	return &t, nil
}

func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next *store.RefreshToken, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var grantID string
		var used, revoked int64
		err := tx.QueryRowContext(ctx, `SELECT r.grant_id, r.used_at, g.revoked_at FROM refresh_tokens r
			JOIN grants g ON g.id = r.grant_id WHERE r.hash = ?`, oldHash).Scan(&grantID, &used, &revoked)
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
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = ? WHERE hash = ?`, ms(now), oldHash); err != nil {
			return err
		}
		n := *next
		n.GrantID = grantID
		return insertRefresh(ctx, tx, &n)
	})
}

// --- access tokens

func (s *Store) CreateAccessToken(ctx context.Context, t *store.AccessToken) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO access_tokens (jti, grant_id, client_id, subject, expires_at, revoked_at)
		VALUES (?,?,?,?,?,?)`, t.JTI, t.GrantID, t.ClientID, t.Subject, ms(t.ExpiresAt), ms(t.RevokedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetAccessToken(ctx context.Context, jti string) (*store.AccessToken, error) {
	t := store.AccessToken{JTI: jti}
	var expires, revoked int64
	err := s.db.QueryRowContext(ctx, `SELECT grant_id, client_id, subject, expires_at, revoked_at FROM access_tokens WHERE jti = ?`,
		jti).Scan(&t.GrantID, &t.ClientID, &t.Subject, &expires, &revoked)
	if err != nil {
		return nil, notFound(err)
	}
	t.ExpiresAt, t.RevokedAt = tm(expires), tm(revoked)
	return &t, nil
}

func (s *Store) RevokeAccessToken(ctx context.Context, jti string, now time.Time) error {
	err := affected(s.db.ExecContext(ctx, `UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at = 0`, ms(now), jti))
	if errors.Is(err, store.ErrNotFound) {
		// Already revoked is fine; unknown is not.
		if _, gerr := s.GetAccessToken(ctx, jti); gerr == nil {
			return nil
		}
	}
	return err
}

// --- signing keys

func (s *Store) AddSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted, created_at, sign_until, publish_until)
		VALUES (?,?,?,?,?,?)`, k.ID, k.Algorithm, k.Encrypted, ms(k.CreatedAt), ms(k.SignUntil), ms(k.PublishUntil))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, algorithm, encrypted, created_at, sign_until, publish_until
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, signUntil, publishUntil int64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Encrypted, &created, &signUntil, &publishUntil); err != nil {
			return nil, err
		}
		k.CreatedAt, k.SignUntil, k.PublishUntil = tm(created), tm(signUntil), tm(publishUntil)
		out = append(out, &k)
	}
	return out, rows.Err()
}

// --- expiry

func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		t := ms(now)
		for _, q := range []string{
			`DELETE FROM sessions WHERE expires_at <= ?`,
			`DELETE FROM device_codes WHERE expires_at <= ?`,
			`DELETE FROM auth_codes WHERE grant_id IN (SELECT id FROM grants WHERE expires_at <= ?1)
				OR (used_at = 0 AND expires_at <= ?1)`,
			// Refresh tokens, used ones included, live as long as their grant, so that the reuse
			// of a rotated token is detected for the grant's whole life.
			`DELETE FROM refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE expires_at <= ?)`,
			`DELETE FROM access_tokens WHERE expires_at <= ?1 OR grant_id IN (SELECT id FROM grants WHERE expires_at <= ?1)`,
			`DELETE FROM grants WHERE expires_at <= ?1`,
			`DELETE FROM signing_keys WHERE publish_until <= ?`,
		} {
			res, err := tx.ExecContext(ctx, q, t)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	return n, err
}
