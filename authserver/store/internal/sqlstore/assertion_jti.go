// Accepted client assertions: store.AssertionStore. A use is one upsert that writes only when
// no live record of the (client_id, jti) exists, so its row count says "first use" (1) or
// "replayed" (0), decided by the database's uniqueness check under its row or write lock:
// no read-then-write race between instances.
package sqlstore

import (
	"context"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// useAssertion: $1 client_id, $2 jti, $3 keep until, $4 now. A record kept until now or before
// is taken over by the new use.
const useAssertion = `INSERT INTO client_assertions (client_id, jti, keep_until) VALUES ($1, $2, $3)
	ON CONFLICT (client_id, jti) DO UPDATE SET keep_until = excluded.keep_until
	WHERE client_assertions.keep_until <= $4`

func (s *Store) UseClientAssertion(ctx context.Context, clientID, jti string, keepUntil, now time.Time) error {
	res, err := s.q.ExecContext(ctx, useAssertion, clientID, jti, keepUntil.UnixMilli(), now.UnixMilli())
	if err != nil {
		return s.conflict(err)
	}
	n, err := res.RowsAffected()
	switch {
	case err != nil:
		return err
	case n == 0:
		return store.ErrAlreadyUsed
	}
	return nil
}

func (s *Store) DeleteExpiredClientAssertions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM client_assertions WHERE keep_until <= $1`, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
