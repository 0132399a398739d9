// The device authorization grant (RFC 8628): store.DeviceStore. A decision and a poll each
// lock the authorization's row (or the database), so of concurrent polls after an approval
// exactly one receives the tokens, whichever instance serves it.
package sqlstore

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

const deviceCols = `hash, user_code_hash, client_id, scopes, resources, created_at, expires_at, last_polled_at,
	decided_at, approved, subject, grant_id, used_at`

func (s *Store) scanDevice(r row) (*store.DeviceCode, error) {
	var d store.DeviceCode
	var scopes, resources string
	var created, expires, polled, decided, used int64
	err := r.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &scopes, &resources, &created, &expires, &polled,
		&decided, &d.Approved, &d.Subject, &d.GrantID, &used)
	if err != nil {
		return nil, s.notFound(err)
	}
	d.Scopes, d.Resources = split(scopes), split(resources)
	d.CreatedAt, d.ExpiresAt, d.LastPolledAt, d.DecidedAt, d.UsedAt = tm(created), tm(expires), tm(polled), tm(decided), tm(used)
	return &d, nil
}

func (s *Store) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO device_codes (`+deviceCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		d.Hash, d.UserCodeHash, d.ClientID, join(d.Scopes), join(d.Resources), ms(d.CreatedAt), ms(d.ExpiresAt),
		ms(d.LastPolledAt), ms(d.DecidedAt), d.Approved, d.Subject, d.GrantID, ms(d.UsedAt))
	return s.conflict(err)
}

func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (*store.DeviceCode, error) {
	return s.scanDevice(s.q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes
		WHERE user_code_hash = $1 AND decided_at = 0 AND expires_at > $2`, userCodeHash, ms(now)))
}

func (s *Store) DecideDeviceCode(ctx context.Context, userCodeHash string, approve bool, subject string, g *store.Grant, now time.Time) error {
	return s.inTx(ctx, func(q querier) error {
		d, err := s.scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes
			WHERE user_code_hash = $1 AND expires_at > $2`+s.forUpdate(""), userCodeHash, ms(now)))
		if err != nil {
			return err
		}
		if !d.DecidedAt.IsZero() {
			return store.ErrAlreadyUsed
		}
		grantID := ""
		if approve {
			if err := s.insertGrant(ctx, q, g); err != nil {
				return err
			}
			grantID = g.ID
		}
		_, err = q.ExecContext(ctx, `UPDATE device_codes SET decided_at = $1, approved = $2, subject = $3, grant_id = $4
			WHERE hash = $5`, ms(now), approve, subject, grantID, d.Hash)
		return err
	})
}

func (s *Store) PollDeviceCode(ctx context.Context, hash string, now time.Time) (*store.DeviceCode, error) {
	var d *store.DeviceCode
	err := s.inTx(ctx, func(q querier) error {
		var err error
		if d, err = s.scanDevice(q.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE hash = $1`+s.forUpdate(""), hash)); err != nil {
			return err
		}
		used := d.UsedAt
		if d.Approved && used.IsZero() {
			used = now
		}
		if _, err := q.ExecContext(ctx, `UPDATE device_codes SET last_polled_at = $1, used_at = $2 WHERE hash = $3`,
			ms(now), ms(used), hash); err != nil {
			return err
		}
		if !d.UsedAt.IsZero() {
			return store.ErrAlreadyUsed // committed: the poll is recorded
		}
		return nil
	})
	if err != nil && d == nil {
		return nil, err
	}
	return d, err
}
