// Package sqlstore is the store.Store shared by the SQLite and PostgreSQL stores: one schema,
// one set of queries over database/sql, and a Dialect for what really differs between the two
// databases (row locks, error codes, the migration lock, retries).
//
// Queries number their parameters $1, $2, ...: PostgreSQL's syntax, which the SQLite driver
// (modernc.org/sqlite) binds by the same numbers.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// ErrorKind is what a database error means to the store.
type ErrorKind int

const (
	// Other errors are returned as they are.
	Other ErrorKind = iota
	// Unique: a primary key or unique constraint was violated (store.ErrConflict).
	Unique
	// InvalidText: a text the database cannot hold (PostgreSQL: invalid UTF-8 or NUL). As a
	// key it is simply not found; as a value to store it is ErrInvalidText.
	InvalidText
	// Transient: the database aborted the transaction (deadlock victim, serialization failure);
	// running it again may succeed.
	Transient
)

// ErrInvalidText: a value to store is not valid UTF-8 or holds a NUL byte, which PostgreSQL
// text cannot hold (SQLite can).
var ErrInvalidText = errors.New("store: text must be valid UTF-8 without NUL bytes")

// Dialect is what differs between the databases.
type Dialect struct {
	// Name names the database ("sqlite", "postgres") for the migrations written for it alone.
	Name string
	// RowLocks: reads that a transaction then decides on lock their rows (SELECT ... FOR
	// UPDATE). Without row locks (SQLite), every transaction must take the database's write
	// lock when it begins (BEGIN IMMEDIATE), which serialises the same decisions.
	RowLocks bool
	// MigrationLock is run first in the migration transaction to serialise migrations of
	// instances starting together; empty when beginning a transaction already does.
	MigrationLock string
	// Classify tells what a database error means.
	Classify func(error) ErrorKind
	// PrepareStatements: the store prepares each query once per connection (see stmtCache),
	// for a driver that would parse it on every call. Its connection pool must be unbounded.
	PrepareStatements bool
	// SerializeWrites: the database has a single writer (SQLite), so the store's writes in this
	// process take turns (see group) instead of meeting the database's lock, on one connection
	// whose statements are prepared there once, and concurrent write transactions share a commit.
	SerializeWrites bool
}

// Store is a store.Store and store.DeviceStore on a database/sql handle.
type Store struct {
	db    *sql.DB
	d     Dialect
	stmts *stmtCache
	q     prepared // runs prepared statements outside a transaction
	g     *group   // runs write transactions when SerializeWrites
}

var (
	_ store.Store       = (*Store)(nil)
	_ store.DeviceStore = (*Store)(nil)
)

// Open migrates the schema of db to the current version and returns a store on it, which
// owns db from then on.
func Open(ctx context.Context, db *sql.DB, d Dialect) (*Store, error) {
	var stmts *stmtCache
	if d.PrepareStatements {
		stmts = &stmtCache{on: db}
	}
	var g *group
	if d.SerializeWrites {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		g = &group{turn: make(chan struct{}, 1), conn: conn, q: prepared{c: &stmtCache{on: conn}, on: conn}}
	}
	s := &Store{db: db, d: d, stmts: stmts, q: prepared{c: stmts, on: db, g: g}, g: g}
	if err := s.migrate(ctx); err != nil {
		s.closeWriter()
		return nil, err
	}
	return s, nil
}

// Close closes the prepared statements, the writer's connection and the database handle.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	s.closeWriter()
	return s.db.Close()
}

func (s *Store) closeWriter() {
	if s.g != nil {
		s.g.q.c.close()
		s.g.conn.Close()
	}
}

// pointCtx is the context for the statements of a read or write of a few rows by key: on
// SQLite, ctx without its cancellation, since the driver watches a cancellable context with a
// goroutine of its own for each statement, which costs more than such a statement. A read there
// waits for no writer (WAL), only, rarely, for a recovery of the WAL index, within busy_timeout;
// a write runs in the group's turn, which ctx can leave only before it is taken up. Elsewhere
// ctx, whose end also ends a wait for a row lock.
func (s *Store) pointCtx(ctx context.Context) context.Context {
	if s.g == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// BetweenWrites runs fn while no write of this store runs: on SQLite, fn holds the group's
// write turn, and the writes queued meanwhile share a commit after it. Elsewhere it just runs fn.
func (s *Store) BetweenWrites(ctx context.Context, fn func() error) error {
	if s.g == nil {
		return fn()
	}
	select {
	case s.g.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.g.turn }()
	return fn()
}

// SyncCommits has the store's writer commit without waiting for the disk, by running noSync on
// its connection, and then call sync after every commit, before any write of that commit is
// answered: sync must make every commit so far durable. From the first error of sync on, every
// write of the store fails with that error (see group.durable). Only for a store that
// SerializeWrites.
func (s *Store) SyncCommits(ctx context.Context, noSync string, sync func() error) error {
	return s.BetweenWrites(ctx, func() error {
		if err := s.g.exec(ctx, noSync); err != nil {
			return err
		}
		s.g.sync = sync
		return nil
	})
}

// Failure returns the error of the sync that failed the store (see SyncCommits), after which
// every write fails until the store is reopened, or nil.
func (s *Store) Failure() error {
	if s.g == nil {
		return nil
	}
	return s.g.failure()
}

// in runs prepared statements in the transaction tx.
func (s *Store) in(tx *sql.Tx) prepared { return prepared{c: s.stmts, on: tx} }

// forUpdate is the row locking clause for a read whose rows the transaction decides on; of
// names the tables to lock (" OF a, b"), empty for all.
func (s *Store) forUpdate(of string) string {
	if !s.d.RowLocks {
		return ""
	}
	return " FOR UPDATE" + of
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

// conflict maps the errors of an insert: a uniqueness violation to store.ErrConflict, text the
// database cannot hold to ErrInvalidText.
func (s *Store) conflict(err error) error {
	if err == nil {
		return nil
	}
	switch s.d.Classify(err) {
	case Unique:
		return store.ErrConflict
	case InvalidText:
		return ErrInvalidText
	}
	return err
}

// notFound maps the errors of a lookup to store.ErrNotFound: no row, or a key the database
// cannot even hold (e.g. a client_id with a NUL byte from a hostile request), which no stored
// record has.
func (s *Store) notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) || (err != nil && s.d.Classify(err) == InvalidText) {
		return store.ErrNotFound
	}
	return err
}

// affected returns store.ErrNotFound when the statement changed no row (or, as notFound, its
// key cannot exist).
func (s *Store) affected(res sql.Result, err error) error {
	if err != nil {
		return s.notFound(err)
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

// inTx runs fn in a transaction, in which q runs its statements, committing when fn returns
// nil. A store.ErrAlreadyUsed from fn also commits, because what fn wrote (a revocation, a
// recorded poll) must persist. A transaction the database aborted as Transient is run again,
// a few times at most.
func (s *Store) inTx(ctx context.Context, fn func(q querier) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err != nil && attempt < 5 && s.d.Classify(err) == Transient {
			continue
		}
		return err
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(q querier) error) error {
	if s.g != nil {
		return s.g.run(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return endTx(fn(s.in(tx)), func() { tx.Rollback() }, tx.Commit)
}

// writeReturning runs fn, a write that returns rows (which ExecContext cannot), on SQLite in a
// write transaction like the store's others, so that it takes this process's write turn with
// them; elsewhere as its one statement, in its own transaction.
func (s *Store) writeReturning(ctx context.Context, fn func(q querier) error) error {
	if s.g != nil {
		return s.inTx(ctx, fn)
	}
	return fn(s.q)
}

// endTx ends a transaction in which a function returned ferr, as inTx says: it rolls back
// or commits, and returns ferr or the commit's error.
func endTx(ferr error, rollback func(), commit func() error) error {
	if ferr != nil && !errors.Is(ferr, store.ErrAlreadyUsed) {
		rollback()
		return ferr
	}
	if err := commit(); err != nil {
		return err
	}
	return ferr
}

// row is what both *sql.Row and *sql.Rows offer.
type row = interface{ Scan(...any) error }

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, err error, scan func(row) (*T, error)) ([]*T, error) {
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
