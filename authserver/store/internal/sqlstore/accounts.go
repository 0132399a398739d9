// Clients (RFC 7591), users, consents and login sessions.
package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// --- clients

const clientCols = `id, kind, secret_hash, secret_expires_at, registration_token_hash, metadata, scopes, quota_tier, created_at, last_used_at`

func (s *Store) scanClient(r row) (*store.Client, error) {
	var c store.Client
	var kind, meta string
	var scopes sql.NullString
	var secretExp, created, used int64
	if err := r.Scan(&c.ID, &kind, &c.SecretHash, &secretExp, &c.RegistrationTokenHash, &meta, &scopes, &c.QuotaTier, &created, &used); err != nil {
		return nil, s.notFound(err)
	}
	c.Kind = store.ClientKind(kind)
	c.Metadata = []byte(meta)
	if scopes.Valid {
		c.Scopes = split(scopes.String)
	}
	c.SecretExpiresAt, c.CreatedAt, c.LastUsedAt = tm(secretExp), tm(created), tm(used)
	return &c, nil
}

// clientScopes is NULL for nil scopes (any scope), else the joined list.
func clientScopes(c *store.Client) sql.NullString {
	return sql.NullString{String: join(c.Scopes), Valid: c.Scopes != nil}
}

func (s *Store) CreateClient(ctx context.Context, c *store.Client) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		c.ID, string(c.Kind), c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata),
		clientScopes(c), c.QuotaTier, ms(c.CreatedAt), ms(c.LastUsedAt))
	return s.conflict(err)
}

func (s *Store) GetClient(ctx context.Context, id string) (*store.Client, error) {
	return s.scanClient(s.q.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
}

func (s *Store) UpdateClient(ctx context.Context, c *store.Client) error {
	return s.affected(s.q.ExecContext(ctx, `UPDATE clients SET secret_hash = $1, secret_expires_at = $2,
		registration_token_hash = $3, metadata = $4, scopes = $5, quota_tier = $6, last_used_at = $7 WHERE id = $8`,
		c.SecretHash, ms(c.SecretExpiresAt), c.RegistrationTokenHash, string(c.Metadata), clientScopes(c),
		c.QuotaTier, ms(c.LastUsedAt), c.ID))
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(q querier) error { return s.deleteClient(ctx, q, id, time.Now()) })
}

// deleteClient removes a client and its consents and revokes its grants.
func (s *Store) deleteClient(ctx context.Context, q querier, id string, now time.Time) error {
	if err := s.affected(q.ExecContext(ctx, `DELETE FROM clients WHERE id = $1`, id)); err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `DELETE FROM consents WHERE client_id = $1`, id); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at = 0`, ms(now), id)
	return err
}

func (s *Store) ListClients(ctx context.Context) ([]*store.Client, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+clientCols+` FROM clients ORDER BY created_at, id`)
	return collect(rows, err, s.scanClient)
}

func (s *Store) TouchClient(ctx context.Context, id string, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `UPDATE clients SET last_used_at = $1 WHERE id = $2 AND last_used_at < $1`, ms(at), id)
	return err
}

func (s *Store) DeleteUnusedClients(ctx context.Context, cutoff time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, `SELECT id FROM clients WHERE kind = $1 AND created_at < $2 AND last_used_at < $2
			ORDER BY id`+s.forUpdate(""), string(store.ClientDynamic), ms(cutoff))
		ids, err := collect(rows, err, func(r row) (*string, error) {
			var id string
			return &id, r.Scan(&id)
		})
		if err != nil {
			return err
		}
		now := time.Now()
		for _, id := range ids {
			if err := s.deleteClient(ctx, q, *id, now); err != nil {
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

func (s *Store) scanUser(r row) (*store.User, error) {
	var u store.User
	var scopes string
	var created int64
	if err := r.Scan(&u.ID, &u.Username, &u.PasswordHash, &scopes, &created); err != nil {
		return nil, s.notFound(err)
	}
	u.Scopes, u.CreatedAt = split(scopes), tm(created)
	return &u, nil
}

func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1,$2,$3,$4,$5)`,
		u.ID, u.Username, u.PasswordHash, join(u.Scopes), ms(u.CreatedAt))
	return s.conflict(err)
}

func (s *Store) GetUser(ctx context.Context, id string) (*store.User, error) {
	return s.scanUser(s.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
}

func (s *Store) GetUserByName(ctx context.Context, username string) (*store.User, error) {
	return s.scanUser(s.q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
}

func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return s.affected(s.q.ExecContext(ctx, `UPDATE users SET password_hash = $1, scopes = $2 WHERE id = $3`,
		u.PasswordHash, join(u.Scopes), u.ID))
}

func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(q querier) error {
		if err := s.affected(q.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)); err != nil {
			return err
		}
		for _, stmt := range []string{`DELETE FROM sessions WHERE user_id = $1`, `DELETE FROM consents WHERE user_id = $1`} {
			if _, err := q.ExecContext(ctx, stmt, id); err != nil {
				return err
			}
		}
		_, err := q.ExecContext(ctx, `UPDATE grants SET revoked_at = $1 WHERE subject = $2 AND revoked_at = 0`, ms(time.Now()), id)
		return err
	})
}

func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	return collect(rows, err, s.scanUser)
}

// --- consents

func (s *Store) GetConsent(ctx context.Context, userID, clientID string) ([]string, error) {
	var scopes string
	err := s.q.QueryRowContext(ctx, `SELECT scopes FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID).Scan(&scopes)
	if err != nil {
		return nil, s.notFound(err)
	}
	return split(scopes), nil
}

func (s *Store) SaveConsent(ctx context.Context, userID, clientID string, scopes []string, at time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO consents (user_id, client_id, scopes, updated_at) VALUES ($1,$2,$3,$4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		userID, clientID, join(scopes), ms(at))
	return err
}

// --- sessions

func (s *Store) CreateSession(ctx context.Context, se *store.Session) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, created_at, expires_at) VALUES ($1,$2,$3,$4)`,
		se.Hash, se.UserID, ms(se.CreatedAt), ms(se.ExpiresAt))
	return s.conflict(err)
}

func (s *Store) GetSession(ctx context.Context, hash string, now time.Time) (*store.Session, error) {
	se := store.Session{Hash: hash}
	var created, expires int64
	err := s.q.QueryRowContext(ctx, `SELECT user_id, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2`,
		hash, ms(now)).Scan(&se.UserID, &created, &expires)
	if err != nil {
		return nil, s.notFound(err)
	}
	se.CreatedAt, se.ExpiresAt = tm(created), tm(expires)
	return &se, nil
}

func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.q.ExecContext(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
	return err
}
