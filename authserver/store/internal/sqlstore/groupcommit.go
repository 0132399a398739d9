// Group commit (SQLite): the concurrent write transactions of this process share one COMMIT.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"sync"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// group runs the store's write transactions when the database has a single writer. A caller
// queues its transaction and waits either for the turn to write or for another caller, holding
// the turn, to run it. The caller holding the turn runs every queued transaction in one
// database transaction, each inside its own savepoint, and commits once; each caller is
// answered only after that commit (and its sync, see Store.SyncCommits), with its own
// function's error. A function that fails is rolled back to its savepoint and leaves the
// others' writes alone; a function that returns store.ErrAlreadyUsed keeps its writes, as inTx
// promises. If the shared transaction itself fails (a savepoint, the commit, or SQLite rolling
// the whole transaction back after an I/O error or an interrupted statement), nothing of it was
// committed and each function is run again alone, in its own transaction, as if there had been
// no group.
//
// The functions run one after the other, in the order they were queued, on one connection: each
// sees the writes of those before it, exactly as if each had its own transaction in that order.
// That connection is the store's only writer, so its page cache stays valid between writes
// (a connection discards its cache whenever another connection has written).
//
// The transactions are the connection's own (BEGIN IMMEDIATE ... COMMIT), not *sql.Tx: the
// functions' statements, prepared on the connection once, run on it directly. Through a *sql.Tx
// each statement would cost database/sql a new Stmt (Tx.StmtContext) and each query a goroutine
// watching the transaction's context: about a third of a refresh token rotation's own CPU.
type group struct {
	// turn admits one writer of this process at a time: the caller running a batch. SQLite has
	// a single writer: a writer that finds the lock taken waits in its busy handler, which
	// sleeps 1, 2, 5, 10 ... up to 100 ms between tries, so under concurrent writes the process
	// idled while writes queued. Writers waiting here are woken when the previous one is done;
	// the busy handler still covers other processes sharing the file. (The SQLite store also
	// moves WAL checkpoints out of commits, which would otherwise hold the turn through their
	// fsyncs.)
	turn chan struct{}
	conn *sql.Conn // the connection every write transaction runs on
	q    prepared  // runs statements on conn, each prepared there once

	// sync, when set, makes the commits so far durable (see Store.SyncCommits). Only the holder
	// of turn calls it.
	sync func() error

	mu      sync.Mutex
	pending []*groupTx
	failed  error // the first error of sync, which every write gets from then on
}

// groupTx is one caller's transaction: its function, then its outcome once done is closed.
type groupTx struct {
	fn   func(querier) error
	err  error
	done chan struct{}
}

// run runs fn in a write transaction that commits when fn returns nil or store.ErrAlreadyUsed,
// possibly shared with other callers' transactions, and returns fn's error (or the database's)
// once the outcome is durable. A caller whose ctx ends before its transaction was taken up
// withdraws it; after that, it waits for the commit that decides it.
func (g *group) run(ctx context.Context, fn func(querier) error) error {
	t := &groupTx{fn: fn, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, t)
	g.mu.Unlock()
	select {
	case <-t.done: // another caller ran it
		return t.err
	case <-ctx.Done():
		if g.withdraw(t) {
			return ctx.Err()
		}
		<-t.done
		return t.err
	case g.turn <- struct{}{}:
	}
	defer func() { <-g.turn }()
	// Let the goroutines that are ready to run (on a server pinned to one core, all of them
	// wait for this one) reach the queue first, so that they share this commit.
	runtime.Gosched()
	g.lead(ctx)
	<-t.done // run by this caller just now, or by the previous holder of the turn
	return t.err
}

// withdraw removes t from the queue and reports whether it was still there.
func (g *group) withdraw(t *groupTx) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, p := range g.pending {
		if p == t {
			g.pending = append(g.pending[:i], g.pending[i+1:]...)
			return true
		}
	}
	return false
}

// lead runs every queued transaction while holding the turn, then answers their callers once
// what they committed is durable. The statements run with the leader's context values but not
// its cancellation: the leader's caller going away must not roll back the others' transactions.
func (g *group) lead(ctx context.Context) {
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	err := g.failed
	g.mu.Unlock()
	if len(batch) == 0 {
		return // the previous holder of the turn ran this caller's transaction
	}
	if err == nil {
		ctx = context.WithoutCancel(ctx)
		if len(batch) == 1 || g.together(ctx, batch) != nil {
			for _, t := range batch {
				t.err = g.alone(ctx, t.fn)
			}
		}
		err = g.durable()
	}
	for _, t := range batch {
		if err != nil {
			t.err = err
		}
		close(t.done)
	}
}

// durable runs sync, when the store syncs its commits itself, and fails the store at its first
// error: the commits it did not make durable are visible to every read already, so no write may
// be acknowledged again, nor run again (a refresh token rotated by such a commit, rotated again
// by a retry, would be taken for a stolen token and revoke its grant). Like PostgreSQL, which
// stops at a failed fsync, the store must be reopened (the server restarted), which recovers
// the database from what the disk holds.
func (g *group) durable() error {
	if g.sync == nil {
		return nil
	}
	err := g.sync()
	if err != nil {
		g.mu.Lock()
		g.failed = err
		g.mu.Unlock()
	}
	return err
}

// failure returns the error that failed the store (see durable), or nil.
func (g *group) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failed
}

// together runs batch in one transaction, each function in its own savepoint, and commits. It
// sets each function's error and returns nil once committed; on an error of its own, nothing
// was committed.
func (g *group) together(ctx context.Context, batch []*groupTx) error {
	if err := g.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	for _, t := range batch {
		if err := g.exec(ctx, "SAVEPOINT grouped"); err != nil {
			g.rollback(ctx)
			return err
		}
		t.err = t.fn(g.q)
		if t.err != nil && !errors.Is(t.err, store.ErrAlreadyUsed) {
			// Fails when SQLite has rolled back the whole transaction (the savepoint is gone).
			if err := g.exec(ctx, "ROLLBACK TO grouped"); err != nil {
				g.rollback(ctx)
				return err
			}
		}
		if err := g.exec(ctx, "RELEASE grouped"); err != nil {
			g.rollback(ctx)
			return err
		}
	}
	return g.commit(ctx)
}

// alone runs fn in a transaction of its own.
func (g *group) alone(ctx context.Context, fn func(querier) error) error {
	if err := g.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	return endTx(fn(g.q), func() { g.rollback(ctx) }, func() error { return g.commit(ctx) })
}

// commit commits the connection's transaction. A COMMIT that SQLite refuses can leave the
// transaction open, where every later BEGIN would fail: it is rolled back then.
func (g *group) commit(ctx context.Context) error {
	err := g.exec(ctx, "COMMIT")
	if err != nil {
		g.rollback(ctx)
	}
	return err
}

// rollback rolls back the connection's transaction; it fails harmlessly when SQLite has
// already rolled it back.
func (g *group) rollback(ctx context.Context) { _ = g.exec(ctx, "ROLLBACK") }

// exec runs one statement on the connection.
func (g *group) exec(ctx context.Context, stmt string) error {
	_, err := g.q.ExecContext(ctx, stmt)
	return err
}
