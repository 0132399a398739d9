// Grants with their authorization codes and refresh tokens (RFC 6749), revoked access tokens (RFC 7009),
// signing keys, and the removal of what expired.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// --- grants and codes

const grantCols = `id, client_id, subject, scopes, resources, created_at, expires_at, revoked_at`

func (s *Store) insertGrant(ctx context.Context, ex querier, g *store.Grant) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO grants (`+grantCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
		g.ID, g.ClientID, g.Subject, join(g.Scopes), join(g.Resources), ms(g.CreatedAt), ms(g.ExpiresAt), ms(g.RevokedAt))
	return s.conflict(err)
}

func (s *Store) GetGrant(ctx context.Context, id string) (*store.Grant, error) {
	return s.scanGrant(s.q.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
}

// scanGrant reads the grantCols of a row, and then dest.
func (s *Store) scanGrant(r row, dest ...any) (*store.Grant, error) {
	var g store.Grant
	var scopes, resources string
	var created, expires, revoked int64
	err := r.Scan(append([]any{&g.ID, &g.ClientID, &g.Subject, &scopes, &resources, &created, &expires, &revoked}, dest...)...)
	if err != nil {
		return nil, s.notFound(err)
	}
	g.Scopes, g.Resources = split(scopes), split(resources)
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = tm(created), tm(expires), tm(revoked)
	return &g, nil
}

func (s *Store) RevokeGrant(ctx context.Context, id string, now time.Time) error {
	return s.revokeGrant(ctx, s.q, id, now)
}

// revokeGrant sets revoked_at unless it is set already (the first revocation time stays).
func (s *Store) revokeGrant(ctx context.Context, ex querier, id string, now time.Time) error {
	return s.affected(ex.ExecContext(ctx, `UPDATE grants SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END
		WHERE id = $2`, ms(now), id))
}

func (s *Store) CreateAuthCode(ctx context.Context, g *store.Grant, c *store.AuthCode) error {
	return s.inTx(ctx, func(q querier) error {
		if err := s.insertGrant(ctx, q, g); err != nil {
			return err
		}
		_, err := q.ExecContext(ctx, `INSERT INTO auth_codes (hash, grant_id, client_id, subject, redirect_uri,
			code_challenge, scopes, resources, created_at, expires_at, used_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
			c.Hash, c.GrantID, c.ClientID, c.Subject, c.RedirectURI, c.CodeChallenge, join(c.Scopes), join(c.Resources),
			ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.UsedAt))
		return s.conflict(err)
	})
}

// RedeemAuthCode reads the code with its grant's revocation and marks it used in one
// transaction that locks both rows (or, without row locks, the database), so of concurrent
// redemptions, from any instance, the first marks the code used and every later one sees it used.
func (s *Store) RedeemAuthCode(ctx context.Context, hash string, now time.Time) (*store.AuthCode, error) {
	var c *store.AuthCode
	err := s.inTx(ctx, func(q querier) error {
		c = &store.AuthCode{Hash: hash}
		var scopes, resources string
		var created, expires, used, revoked int64
		err := q.QueryRowContext(ctx, `SELECT c.grant_id, c.client_id, c.subject, c.redirect_uri, c.code_challenge,
			c.scopes, c.resources, c.created_at, c.expires_at, c.used_at, g.revoked_at
			FROM auth_codes c JOIN grants g ON g.id = c.grant_id WHERE c.hash = $1`+s.forUpdate(" OF c, g"), hash).
			Scan(&c.GrantID, &c.ClientID, &c.Subject, &c.RedirectURI, &c.CodeChallenge, &scopes, &resources,
				&created, &expires, &used, &revoked)
		if err != nil {
			c = nil
			return s.notFound(err)
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
		_, err = q.ExecContext(ctx, `UPDATE auth_codes SET used_at = $1 WHERE hash = $2`, ms(now), hash)
		return err
	})
	return c, err
}

// --- refresh tokens

// A grant's refresh tokens form a chain: each names the one it replaced (prev_id, 0 for the
// first), so that the janitor finds them all from the first (see DeleteExpired) and a rotation
// adds no entry to an index keyed by grant (migration 007).

func (s *Store) CreateRefreshToken(ctx context.Context, t *store.RefreshToken) error {
	return s.insertRefresh(ctx, s.q, t, 0)
}

// insertRefresh stores t, which replaces the token whose id is prev (0: none).
func (s *Store) insertRefresh(ctx context.Context, ex querier, t *store.RefreshToken, prev int64) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at, prev_id)
		VALUES ($1,$2,$3,$4,$5,$6,$7)`, t.Hash, t.GrantID, t.ClientID, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt), prev)
	return s.conflict(err)
}

func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*store.RefreshToken, *store.Grant, error) {
	_, t, g, err := s.readRefresh(s.pointCtx(ctx), s.q, hash)
	return t, g, err
}

// readRefresh reads the refresh token hash through q with its grant, the subject's scopes and
// the token's row id.
func (s *Store) readRefresh(ctx context.Context, q querier, hash string) (int64, *store.RefreshToken, *store.Grant, error) {
	t := store.RefreshToken{Hash: hash}
	var id, created, expires, used int64
	var subjectScopes sql.NullString
	g, err := s.scanGrant(q.QueryRowContext(ctx, `SELECT g.id, g.client_id, g.subject, g.scopes, g.resources, g.created_at, g.expires_at,
		g.revoked_at, r.id, r.client_id, r.created_at, r.expires_at, r.used_at, u.scopes
		FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id LEFT JOIN users u ON u.id = g.subject WHERE r.hash = $1`, hash),
		&id, &t.ClientID, &created, &expires, &used, &subjectScopes)
	if err != nil {
		return 0, nil, nil, err
	}
	if subjectScopes.Valid {
		g.SubjectScopes = split(subjectScopes.String)
	}
	t.GrantID = g.ID
	t.CreatedAt, t.ExpiresAt, t.UsedAt = tm(created), tm(expires), tm(used)
	return id, &t, g, nil
}

// rotateLocked (row locks) rotates in one statement, for the common case: the token is unused
// and its grant not revoked. The token's and grant's rows are locked and, if another
// transaction changed them meanwhile, checked again on their new versions (PostgreSQL's READ
// COMMITTED re-check of FOR UPDATE rows); then the old token is spent and the next one
// inserted. One statement is one transaction and one round trip. $1 now, $2 the old token's
// hash, $3.. the next token's hash, client_id, created_at, expires_at.
const rotateLocked = `WITH cur AS (
		SELECT r.id, r.grant_id FROM refresh_tokens r JOIN grants g ON g.id = r.grant_id
		WHERE r.hash = $2 AND r.used_at = 0 AND g.revoked_at = 0 FOR UPDATE OF r, g),
	spent AS (
		UPDATE refresh_tokens SET used_at = $1 FROM cur WHERE refresh_tokens.hash = $2 RETURNING cur.id, cur.grant_id)
	INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at, prev_id)
		SELECT $3, grant_id, $4, $5, $6, 0, id FROM spent`

// RotateRefreshToken reads the token, lets decide judge it and rotates it.
//
// With a single writer (SQLite) all of it runs in one write transaction, on the writer's
// connection: its page cache stays warm between writes (see group), where a reader's is
// dropped at every commit, so the read costs less there than on a reader, and no other write
// comes between the read and the rotation.
//
// With row locks (PostgreSQL) the read runs alone, then decide, then the rotation's one
// statement, rotateLocked, which spends the token only if it is still unused and its grant
// not revoked: two round trips. When it spends nothing, a transaction that locks the token's
// and its grant's rows tells why (a concurrent rotation or revocation), or rotates after all
// (a statement that failed for a deadlock or text the database cannot hold).
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, decide store.RotationDecision) error {
	if !s.d.RowLocks {
		// On SQLite the statements run in the group's write turn, which its caller leaves only
		// before its turn (group.run): they are not interrupted when the caller goes away, which
		// spares the driver a goroutine watching ctx for each statement.
		stmtCtx := s.pointCtx(ctx)
		return s.inTx(ctx, func(q querier) error {
			old, next, err := s.decideRotation(stmtCtx, q, oldHash, now, decide)
			if err != nil {
				return err
			}
			return s.rotate(stmtCtx, q, old, next, now)
		})
	}
	old, next, err := s.decideRotation(ctx, s.q, oldHash, now, decide)
	if err != nil {
		return err
	}
	n, err := rowsAffected(s.q.ExecContext(ctx, rotateLocked, ms(now), oldHash, next.Hash, next.ClientID,
		ms(next.CreatedAt), ms(next.ExpiresAt)))
	if err == nil && n == 1 {
		return nil
	}
	if err != nil && s.d.Classify(err) == Other {
		return err
	}
	return s.inTx(ctx, func(q querier) error {
		var used, revoked int64
		err := q.QueryRowContext(ctx, `SELECT r.used_at, g.revoked_at FROM refresh_tokens r
			JOIN grants g ON g.id = r.grant_id WHERE r.hash = $1 FOR UPDATE OF r, g`, oldHash).Scan(&used, &revoked)
		if err != nil {
			return s.notFound(err)
		}
		if err := s.refuseRotation(ctx, q, used != 0, revoked != 0, next.GrantID, now); err != nil {
			return err
		}
		return s.rotate(ctx, q, old, next, now)
	})
}

// rotatedToken is the token a rotation spends: its hash and row id.
type rotatedToken struct {
	hash string
	id   int64
}

// decideRotation reads the token oldHash through q and asks decide about it. It returns the
// token to spend and the next one to store (in the old one's grant), or the reason not to
// rotate: decide's error, ErrNotFound, or refuseRotation's.
func (s *Store) decideRotation(ctx context.Context, q querier, oldHash string, now time.Time,
	decide store.RotationDecision) (rotatedToken, *store.RefreshToken, error) {
	id, t, g, err := s.readRefresh(ctx, q, oldHash)
	if err != nil {
		return rotatedToken{}, nil, err
	}
	next, err := decide(t, g)
	if err != nil {
		return rotatedToken{}, nil, err
	}
	if err := s.refuseRotation(ctx, q, !t.UsedAt.IsZero(), !g.RevokedAt.IsZero(), g.ID, now); err != nil {
		return rotatedToken{}, nil, err
	}
	if next == nil {
		return rotatedToken{}, nil, errors.New("store: the rotation's decision returned no next token")
	}
	n := *next
	n.GrantID = g.ID
	return rotatedToken{hash: oldHash, id: id}, &n, nil
}

// refuseRotation refuses the rotation of a used token, a reuse, by revoking its grant and
// returning store.ErrAlreadyUsed, and that of a token of a revoked grant with store.ErrRevoked.
func (s *Store) refuseRotation(ctx context.Context, q querier, used, revoked bool, grantID string, now time.Time) error {
	switch {
	case used:
		if err := s.revokeGrant(ctx, q, grantID, now); err != nil {
			return err
		}
		return store.ErrAlreadyUsed
	case revoked:
		return store.ErrRevoked
	}
	return nil
}

// rotate spends old and stores next, chained to it.
func (s *Store) rotate(ctx context.Context, q querier, old rotatedToken, next *store.RefreshToken, now time.Time) error {
	// By both keys: SQLite finds the row by its rowid, PostgreSQL (no index on id) by hash.
	if _, err := q.ExecContext(ctx, `UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND hash = $3`, ms(now), old.id, old.hash); err != nil {
		return err
	}
	return s.insertRefresh(ctx, q, next, old.id)
}

// --- revoked access tokens

// RevokeAccessToken keeps a revoked jti until the token's expiry, when DeleteExpired drops it.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO NOTHING`, jti, ms(expiresAt))
	return s.conflict(err)
}

func (s *Store) AccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.q.QueryRowContext(ctx, `SELECT 1 FROM revoked_access_tokens WHERE jti = $1`, jti).Scan(&one)
	if err = s.notFound(err); errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// --- signing keys

func (s *Store) AddSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, encrypted, created_at, sign_until, publish_until)
		VALUES ($1,$2,$3,$4,$5,$6)`, k.ID, k.Algorithm, k.Encrypted, ms(k.CreatedAt), ms(k.SignUntil), ms(k.PublishUntil))
	return s.conflict(err)
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT id, algorithm, encrypted, created_at, sign_until, publish_until
		FROM signing_keys ORDER BY created_at DESC, id DESC`)
	return collect(rows, err, func(r row) (*store.SigningKey, error) {
		var k store.SigningKey
		var created, signUntil, publishUntil int64
		if err := r.Scan(&k.ID, &k.Algorithm, &k.Encrypted, &created, &signUntil, &publishUntil); err != nil {
			return nil, err
		}
		k.CreatedAt, k.SignUntil, k.PublishUntil = tm(created), tm(signUntil), tm(publishUntil)
		return &k, nil
	})
}

// --- expiry

func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.inTx(ctx, func(q querier) error {
		n = 0 // a retried transaction counts afresh
		for _, stmt := range []string{
			`DELETE FROM sessions WHERE expires_at <= $1`,
			`DELETE FROM device_codes WHERE expires_at <= $1`,
			`DELETE FROM auth_codes WHERE grant_id IN (SELECT id FROM grants WHERE expires_at <= $1)
				OR (used_at = 0 AND expires_at <= $1)`,
			// Refresh tokens, used ones included, live as long as their grant, so that the reuse
			// of a rotated token is detected for the grant's whole life. A grant's tokens are
			// its first one and those chained to it.
			deleteExpiredRefreshTokens,
			`DELETE FROM revoked_access_tokens WHERE expires_at <= $1`,
			`DELETE FROM grants WHERE expires_at <= $1`,
			`DELETE FROM signing_keys WHERE publish_until <= $1`,
		} {
			k, err := rowsAffected(q.ExecContext(ctx, stmt, ms(now)))
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	return n, err
}

// deleteExpiredRefreshTokens deletes the tokens of the grants expired at $1 (grants_expires):
// from each grant's first token (refresh_tokens_first), along the chain of tokens that replaced
// it (refresh_tokens_next; its condition, prev_id > 0, is repeated for the planners to use it).
// CROSS JOIN keeps SQLite from scanning every grant's first token instead. The rows are deleted
// by hash, the key both databases index (id is SQLite's rowid; PostgreSQL has no index on it).
const deleteExpiredRefreshTokens = `WITH RECURSIVE family (id, hash) AS (
		SELECT r.id, r.hash FROM grants g CROSS JOIN refresh_tokens r WHERE g.expires_at <= $1 AND r.grant_id = g.id AND r.prev_id = 0
		UNION ALL
		SELECT r.id, r.hash FROM family f JOIN refresh_tokens r ON r.prev_id = f.id AND r.prev_id > 0)
	DELETE FROM refresh_tokens WHERE hash IN (SELECT hash FROM family)`

func rowsAffected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	k, err := res.RowsAffected()
	return int(k), err
}
