// Shared rate-limit budgets: store.RateCountStore. An event is counted by one upsert that moves
// the key's full_at on only when the budget has room (a conditional ON CONFLICT update), decided
// on the row as it is when the statement writes it (row lock in PostgreSQL, the write lock in
// SQLite): concurrent events from any number of instances never overdraw a budget.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// Parameters of countRate: $1 key, $2 now, $3 the budget the events take (n × the interval of
// one), $4 the latest full_at the budget allows (now + Events × interval), $5 full_at of a key's
// first events (now + $3). Times and lengths in milliseconds. No row comes back when the event was not
// counted.
const (
	rateFrom  = `CASE WHEN rate_counts.full_at > $2 THEN rate_counts.full_at ELSE $2 END`
	countRate = `INSERT INTO rate_counts (rate_key, full_at) VALUES ($1, $5)
		ON CONFLICT (rate_key) DO UPDATE SET full_at = ` + rateFrom + ` + $3
		WHERE ` + rateFrom + ` + $3 <= $4
		RETURNING full_at`
	getRateCount = `SELECT full_at FROM rate_counts WHERE rate_key = $1`
)

func (s *Store) CountRate(ctx context.Context, key string, now time.Time, l store.RateLimit, n int) (store.RateCount, bool, error) {
	t, i := now.UnixMilli(), l.Interval().Milliseconds()
	take := int64(n) * i
	var full int64
	var counted bool
	count := func(q querier) error {
		err := q.QueryRowContext(ctx, countRate, key, t, take, t+int64(l.Events)*i, t+take).Scan(&full)
		if counted = err == nil; !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Not counted: the budget is spent; read how far (a record the janitor deleted
		// meanwhile is a whole budget).
		if err := q.QueryRowContext(ctx, getRateCount, key).Scan(&full); !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return nil
	}
	if err := s.writeReturning(ctx, count); err != nil {
		return store.RateCount{}, false, s.conflict(err)
	}
	return store.RateCount{Key: key, FullAt: tm(full)}, counted, nil
}

func (s *Store) GetRateCounts(ctx context.Context, keys []string) ([]*store.RateCount, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT rate_key, full_at FROM rate_counts WHERE rate_key IN (`+keyList(1, len(keys))+`)`, anys(keys)...)
	return collect(rows, err, func(r row) (*store.RateCount, error) {
		var c store.RateCount
		var full int64
		if err := r.Scan(&c.Key, &full); err != nil {
			return nil, err
		}
		c.FullAt = tm(full)
		return &c, nil
	})
}

func (s *Store) ExtendRateCount(ctx context.Context, key string, until time.Time) error {
	_, err := s.q.ExecContext(ctx, `INSERT INTO rate_counts (rate_key, full_at) VALUES ($1, $2)
		ON CONFLICT (rate_key) DO UPDATE SET full_at = excluded.full_at WHERE rate_counts.full_at < excluded.full_at`,
		key, until.UnixMilli())
	return s.conflict(err)
}

func (s *Store) DeleteRateCounts(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM rate_counts WHERE rate_key IN (`+keyList(1, len(keys))+`)`, anys(keys)...)
	return err
}

func (s *Store) DeleteExpiredRateCounts(ctx context.Context, now time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM rate_counts WHERE full_at <= $1`, now.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
