// Failed sign-ins per lockout key: store.LockoutStore. A failure is counted by one upsert whose
// arithmetic runs in the database on the row as it is when the statement writes it (row lock in
// PostgreSQL, the write lock in SQLite), so concurrent failures from any number of instances
// never lose a count and exactly one of them locks the key.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// Parameters of recordFailure: $1 key, $2 now, $3 now - window (a window that opened at or
// before it has passed), $4 failures that lock, $5 first lock, $6 longest lock, $7 now - longest
// lock (a key whose lock ended at or before it starts its backoff afresh), $8-$10 the row of a
// first failure (failures, locked_until, lock_ms). Times and lengths in milliseconds.
const (
	failuresNow = `CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END`
	lockNow     = `(` + failuresNow + `) >= $4`
	nextLock    = `CASE WHEN login_failures.lock_ms = 0 OR login_failures.locked_until <= $7 THEN $5
		WHEN login_failures.lock_ms * 2 >= $6 THEN $6 ELSE login_failures.lock_ms * 2 END`

	recordFailure = `INSERT INTO login_failures (lock_key, failures, window_start, locked_until, lock_ms)
		VALUES ($1, $8, $2, $9, $10)
		ON CONFLICT (lock_key) DO UPDATE SET
			failures = CASE WHEN ` + lockNow + ` THEN 0 ELSE ` + failuresNow + ` END,
			window_start = CASE WHEN login_failures.window_start <= $3 THEN $2 ELSE login_failures.window_start END,
			locked_until = CASE WHEN ` + lockNow + ` THEN $2 + ` + nextLock + ` ELSE login_failures.locked_until END,
			lock_ms = CASE WHEN ` + lockNow + ` THEN ` + nextLock + ` ELSE login_failures.lock_ms END
		WHERE login_failures.locked_until <= $2
		RETURNING locked_until`
)

func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, p store.LockoutPolicy) (time.Time, error) {
	t, lock, maxLock := now.UnixMilli(), p.Lock.Milliseconds(), max(p.MaxLock, p.Lock).Milliseconds()
	first := []any{int64(1), int64(0), int64(0)} // the first failure of a key
	if p.Failures <= 1 {
		first = []any{int64(0), t + lock, lock}
	}
	var until int64
	err := s.writeReturning(ctx, func(q querier) error {
		return q.QueryRowContext(ctx, recordFailure, append([]any{key, t, t - p.Window.Milliseconds(), int64(p.Failures),
			lock, maxLock, t - maxLock}, first...)...).Scan(&until)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows), err == nil && until <= t:
		return time.Time{}, nil // locked already, or not locked by this failure
	case err != nil:
		return time.Time{}, err
	}
	return tm(until), nil
}

// keyList is the placeholders $from, $from+1, ... for n keys.
func keyList(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

func anys(keys []string, more ...any) []any {
	out := more
	for _, k := range keys {
		out = append(out, k)
	}
	return out
}

func (s *Store) GetLoginFailures(ctx context.Context, keys []string) ([]*store.LoginFailures, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rows, err := s.q.QueryContext(ctx, `SELECT lock_key, failures, window_start, locked_until, lock_ms FROM login_failures
		WHERE lock_key IN (`+keyList(1, len(keys))+`)`, anys(keys)...)
	return collect(rows, err, func(r row) (*store.LoginFailures, error) {
		var f store.LoginFailures
		var start, until, lockMS int64
		if err := r.Scan(&f.Key, &f.Failures, &start, &until, &lockMS); err != nil {
			return nil, err
		}
		f.WindowStart, f.LockedUntil, f.LockLength = tm(start), tm(until), time.Duration(lockMS)*time.Millisecond
		return &f, nil
	})
}

func (s *Store) ClearLoginFailures(ctx context.Context, keys []string, now time.Time) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE locked_until <= $1 AND lock_key IN (`+keyList(2, len(keys))+`)`,
		anys(keys, now.UnixMilli())...)
	return err
}

func (s *Store) DeleteStaleLoginFailures(ctx context.Context, windowCutoff, lockCutoff time.Time) (int, error) {
	res, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE window_start < $1 AND locked_until < $2`,
		windowCutoff.UnixMilli(), lockCutoff.UnixMilli())
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
