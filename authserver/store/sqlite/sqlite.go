// Package sqlite is the embedded store.Store of the authorization server, on SQLite through the
// pure-Go modernc.org/sqlite driver, in WAL mode. Every transaction is immediate (it takes the
// write lock when it begins), so concurrent redemptions of one code or rotations of one refresh
// token are serialised by SQLite's write lock, also across processes sharing the file.
//
// Durability: a write is acknowledged only after its commit has reached the disk (the WAL is
// fdatasynced after every commit), so it survives a crash of the process and of the machine
// (power loss), as PostgreSQL's default commit does. Without that sync (synchronous=NORMAL
// alone) a write would survive a crash of the process only: after a power loss the last commits
// could be gone, among them acknowledged revocations (RFC 7009) and spent codes and refresh
// tokens, which would work again. Concurrent writes share one commit and so one sync (sqlstore's
// group commit), which keeps the cost small.
//
// On Linux the store syncs the WAL itself, through asynchronous I/O (see walSync), so that the
// server's other requests run while the disk works: its writer commits with synchronous=NORMAL
// and the group answers a commit's writes only once the sync is done. Reads of other
// connections may see a commit a fraction of a millisecond before it is durable; nothing they
// answer can depend on it, since whatever created it is not acknowledged yet. A sync that fails
// fails every later write with ErrSyncFailed until the store is reopened (Failure says so, and
// mcpauth serve's /readyz). Where the kernel refuses AIO, and on other systems, the writer keeps
// synchronous=FULL: SQLite syncs the WAL inside each commit.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/mcpauth/mcpauth/authserver/store/internal/sqlstore"
)

// Store is a store.Store and store.DeviceStore (its methods are sqlstore.Store's) on one
// SQLite database file.
type Store struct {
	*sqlstore.Store
	wal             *walSync // nil where SQLite syncs the WAL in its commits
	stopCheckpoints context.CancelFunc
	checkpoints     sync.WaitGroup
}

// dialect: no row locks (BEGIN IMMEDIATE serialises writers, migrations included), no
// retries (busy_timeout waits for the write lock instead), prepared statements (the driver
// parses a query on every call otherwise; the pool is unbounded, as they need), and one writer
// at a time in the process, as SQLite has, whose concurrent transactions share one commit.
var dialect = sqlstore.Dialect{Name: "sqlite", Classify: classify, PrepareStatements: true, SerializeWrites: true}

// Open opens (creating if needed) the SQLite database at path and migrates its schema to the
// current version.
func Open(path string) (*Store, error) {
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// database/sql keeps 2 idle connections by default; under concurrent token requests the
	// rest were closed and reopened (pragmas, schema parse) on every burst, about 14% of the
	// token endpoint's CPU in bench/'s profile.
	db.SetMaxIdleConns(32)
	s, err := sqlstore.Open(context.Background(), db, dialect)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	wal, err := syncWAL(s, path)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	st := &Store{Store: s, wal: wal, stopCheckpoints: stop}
	st.checkpoints.Go(func() { st.checkpoint(ctx, db) })
	return st, nil
}

// ErrSyncFailed: the WAL could not be made durable. The store's writes fail from then on,
// until it is reopened (see the package doc).
var ErrSyncFailed = errors.New("sqlite: the WAL could not be synced to disk; writes fail until the store is reopened")

// syncWAL has the store sync its writer's commits itself (see walSync), or returns nil where
// it cannot, leaving synchronous=FULL. The WAL exists by now: the migrations opened it.
func syncWAL(s *sqlstore.Store, path string) (*walSync, error) {
	file, err := filepath.EvalSymlinks(path) // SQLite puts the WAL beside the file a link names
	if err != nil {
		return nil, nil
	}
	wal, err := openWALSync(file + "-wal")
	if err != nil {
		return nil, nil
	}
	if err := s.SyncCommits(context.Background(), "PRAGMA synchronous = NORMAL", wal.sync); err != nil {
		return nil, errors.Join(err, wal.close())
	}
	return wal, nil
}

// dsn names the database at path with the settings of every connection (see the package doc).
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "wal_autocheckpoint(0)") // see checkpoint
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// busyTimeout is how long a statement waits for a lock another connection holds (the write
// lock of another process sharing the file) before it fails.
const busyTimeout = 10 * time.Second

// restartWait is how long the RESTART checkpoint, which holds the store's write turn, waits
// for the readers of the WAL: a long read (a backup, say) must not stop the writes; the next
// tick tries again.
const restartWait = 5 * time.Millisecond

// checkpointInterval is how often checkpoint copies the WAL into the database.
const checkpointInterval = 200 * time.Millisecond

// walRestartFrames is the length of the WAL (in pages: 16 MiB of 4 KiB pages) from which
// checkpoint has the next write start it again from its beginning.
var walRestartFrames = 4096

// checkpoint copies committed pages from the WAL into the database file every
// checkpointInterval until ctx ends, without waiting for readers or writers (PASSIVE). SQLite's
// own automatic checkpoint runs in the commit that fills the WAL past 1,000 pages, with its
// fsyncs, while that writer still holds the store's write turn (sqlstore's group): every other write
// of the process waited for the disk (refresh rotations at 32 connections ran at half the rate).
// What a commit wrote is in the WAL, fsynced, whether or not it was checkpointed yet.
//
// The WAL starts again from its beginning only at a write that finds all of it copied, which
// under a steady load of writes never happens: it grew without end (850 MB in 40 s of refresh
// rotations, for a 44 MB database), and with it the WAL index each read searches. So once the
// WAL holds walRestartFrames pages, checkpoint takes the store's write turn and runs a RESTART
// checkpoint, which copies what the PASSIVE one left (new since) and waits for the readers of
// the WAL to finish (microseconds, but SQLite's busy handler polls from 1 ms; at most
// restartWait): the next write overwrites the WAL from its beginning, whose file keeps its size.
func (s *Store) checkpoint(ctx context.Context, db *sql.DB) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error (the database is busy, or closing) is retried at the next tick.
		var busy, frames, copied int
		err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err == nil && frames >= walRestartFrames {
			_ = s.BetweenWrites(ctx, func() error { return restartWAL(ctx, db) })
		}
	}
}

// restartWAL runs a RESTART checkpoint on a connection that waits restartWait for locks, set
// back to busyTimeout before the connection returns to the pool (or it is closed).
func restartWAL(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	timeout := func(d time.Duration) error {
		_, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", d.Milliseconds()))
		return err
	}
	if err := timeout(restartWait); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)")
	if rerr := timeout(busyTimeout); rerr != nil {
		// The pool must not keep a connection that gives up on locks after restartWait.
		return errors.Join(err, rerr, conn.Raw(func(any) error { return driver.ErrBadConn }))
	}
	return err
}

// Durability says how the store makes a commit durable before its writes are answered (see the
// package doc), for operators: "WAL fdatasynced through Linux AIO" or "synchronous=FULL".
func (s *Store) Durability() string {
	if s.wal != nil {
		return "WAL fdatasynced through Linux AIO"
	}
	return "synchronous=FULL"
}

// Close stops the checkpoints, then closes the store.
func (s *Store) Close() error {
	s.stopCheckpoints()
	s.checkpoints.Wait()
	err := s.Store.Close()
	if s.wal != nil {
		err = errors.Join(err, s.wal.close())
	}
	return err
}

// classify reports uniqueness (primary key or unique) violations; SQLite holds any text.
func classify(err error) sqlstore.ErrorKind {
	var se *sqlite.Error
	if errors.As(err, &se) {
		if c := se.Code(); c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return sqlstore.Unique
		}
	}
	return sqlstore.Other
}
