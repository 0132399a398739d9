package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// This file implements store.DeviceStore: the device authorization grant (RFC 8628).

var _ store.DeviceStore = (*Store)(nil)

const deviceCols = `hash, user_code_hash, client_id, scopes, resources, created_at, expires_at, last_polled_at,
	decided_at, approved, subject, grant_id, used_at`

func scanDevice(row interface{ Scan(...any) error }) (*store.DeviceCode, error) {
	var d store.DeviceCode
	var scopes, resources string
	var created, expires, polled, decided, used int64
	err := row.Scan(&d.Hash, &d.UserCodeHash, &d.ClientID, &scopes, &resources, &created, &expires, &polled,
		&decided, &d.Approved, &d.Subject, &d.GrantID, &used)
	if err != nil {
		return nil, notFound(err)
	}
	d.Scopes, d.Resources = split(scopes), split(resources)
	d.CreatedAt, d.ExpiresAt, d.LastPolledAt, d.DecidedAt, d.UsedAt = tm(created), tm(expires), tm(polled), tm(decided), tm(used)
	return &d, nil
}

func (s *Store) CreateDeviceCode(ctx context.Context, d *store.DeviceCode) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO device_codes (`+deviceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		d.Hash, d.UserCodeHash, d.ClientID, join(d.Scopes), join(d.Resources), ms(d.CreatedAt), ms(d.ExpiresAt),
		ms(d.LastPolledAt), ms(d.DecidedAt), d.Approved, d.Subject, d.GrantID, ms(d.UsedAt))
	if isConstraint(err) {
		return store.ErrConflict
	}
	return err
}

func (s *Store) GetDeviceCodeByUserCode(ctx context.Context, userCodeHash string, now time.Time) (*store.DeviceCode, error) {
	return scanDevice(s.db.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes
		WHERE user_code_hash = ? AND decided_at = 0 AND expires_at > ?`, userCodeHash, ms(now)))
}

func (s *Store) DecideDeviceCode(ctx context.Context, userCodeHash string, approve bool, subject string, g *store.Grant, now time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes
			WHERE user_code_hash = ? AND expires_at > ?`, userCodeHash, ms(now)))
		if err != nil {
			return err
		}
		if !d.DecidedAt.IsZero() {
			return store.ErrAlreadyUsed
		}
		grantID := ""
		if approve {
			if err := insertGrant(ctx, tx, g); err != nil {
				return err
			}
			grantID = g.ID
		}
		_, err = tx.ExecContext(ctx, `UPDATE device_codes SET decided_at = ?, approved = ?, subject = ?, grant_id = ?
			WHERE hash = ?`, ms(now), approve, subject, grantID, d.Hash)
		return err
	})
}

func (s *Store) PollDeviceCode(ctx context.Context, hash string, now time.Time) (*store.DeviceCode, error) {
	var d *store.DeviceCode
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if d, err = scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM device_codes WHERE hash = ?`, hash)); err != nil {
			return err
		}
		used := d.UsedAt
		if d.Approved && used.IsZero() {
			used = now
		}
		if _, err := tx.ExecContext(ctx, `UPDATE device_codes SET last_polled_at = ?, used_at = ? WHERE hash = ?`,
			ms(now), ms(used), hash); err != nil {
			return err
		}
		if !d.UsedAt.IsZero() {
			return store.ErrAlreadyUsed
		}
		return nil
	})
	if err != nil && d == nil {
		return nil, err
	}
	return d, err
}
