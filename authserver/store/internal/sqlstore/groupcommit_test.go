package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// openGrouped opens a store with group commit on a fresh SQLite file, as the sqlite package
// does (that package imports this one, so its Open cannot be used here), with a table t(k).
func openGrouped(t *testing.T) *Store {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "g.db")+
		"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), db, Dialect{Classify: func(error) ErrorKind { return Other },
		PrepareStatements: true, SerializeWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.q.ExecContext(t.Context(), `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func has(t *testing.T, s *Store, k string) bool {
	t.Helper()
	var n int
	if err := s.q.QueryRowContext(t.Context(), `SELECT count(*) FROM t WHERE k = $1`, k).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// insert writes k into t through the group.
func insert(ctx context.Context, s *Store, k string) error {
	return s.inTx(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO t (k) VALUES ($1)`, k)
		return err
	})
}

// endShared is a writer that ends the shared transaction it runs in (here by a ROLLBACK; in
// production SQLite does so itself after an I/O error or an interrupted statement), which makes
// the group run each function of the batch alone.
func endShared(ctx context.Context, s *Store) error {
	return s.inTx(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `ROLLBACK`)
		return err
	})
}

// TestGroupCommit: writers that queue while another writes share one transaction (another
// connection sees none of their rows while any of them runs, so one COMMIT answers all of
// them), and each gets its own outcome:
// a function that fails after writing leaves no trace and costs the others nothing, one that
// returns store.ErrAlreadyUsed keeps its write, the rest commit.
func TestGroupCommit(t *testing.T) {
	s := openGrouped(t)
	const n = 30
	holdTurn(s)
	var mu sync.Mutex
	committed := 0 // the most rows of t another connection saw while a writer ran
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.inTx(t.Context(), func(q querier) error {
				var seen int
				if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM t`).Scan(&seen); err != nil {
					return err
				}
				mu.Lock()
				committed = max(committed, seen)
				mu.Unlock()
				if _, err := q.ExecContext(t.Context(), `INSERT INTO t (k) VALUES ($1)`, fmt.Sprint("k", i)); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return fmt.Errorf("writer %d: %w", i, errOwn)
				case 2:
					return store.ErrAlreadyUsed
				}
				return nil
			})
		})
	}
	waitQueued(t, s, n)
	<-s.g.turn
	wg.Wait()
	if committed != 0 {
		t.Errorf("another connection saw %d rows of the %d writers while they ran, want one shared transaction", committed, n)
	}
	for i, err := range errs {
		k := fmt.Sprint("k", i)
		switch i % 3 {
		case 0:
			if err != nil || !has(t, s, k) {
				t.Errorf("writer %d: %v, row kept %v; want nil and kept", i, err, has(t, s, k))
			}
		case 1:
			if want := fmt.Sprintf("writer %d: %v", i, errOwn); err == nil || err.Error() != want || has(t, s, k) {
				t.Errorf("writer %d: %v, row kept %v; want %q and no row", i, err, has(t, s, k), want)
			}
		case 2:
			if !errors.Is(err, store.ErrAlreadyUsed) || !has(t, s, k) {
				t.Errorf("writer %d: %v, row kept %v; want ErrAlreadyUsed and kept", i, err, has(t, s, k))
			}
		}
	}
}

var errOwn = errors.New("refused by its own function")

// holdTurn takes the write turn, so that writers queue up behind it.
func holdTurn(s *Store) {
	s.g.turn <- struct{}{}
}

// waitQueued waits, with the turn held, until n writers are queued.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.g.mu.Lock()
		queued := len(s.g.pending)
		s.g.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writers queued, want %d", queued, n)
		}
	}
}

// TestGroupCommitBrokenTransaction: a function that ends the shared transaction (here by a
// ROLLBACK; in production SQLite does so itself after an I/O error or an interrupted statement)
// makes the group fall back to one transaction per function: the others' writes, including those
// run before it in the shared transaction, are committed and acknowledged; only it fails.
func TestGroupCommitBrokenTransaction(t *testing.T) {
	s := openGrouped(t)
	const n = 8
	holdTurn(s)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if i == 3 {
				errs[i] = endShared(t.Context(), s)
			} else {
				errs[i] = insert(t.Context(), s, fmt.Sprint("k", i))
			}
		})
	}
	waitQueued(t, s, n)
	<-s.g.turn
	wg.Wait()
	for i, err := range errs {
		if i == 3 {
			if err == nil {
				t.Errorf("the writer that ended the transaction got no error")
			}
			continue
		}
		if err != nil || !has(t, s, fmt.Sprint("k", i)) {
			t.Errorf("writer %d: %v, row kept %v; want nil and kept", i, err, has(t, s, fmt.Sprint("k", i)))
		}
	}
	// The writer's connection is usable afterwards.
	if err := insert(t.Context(), s, "after"); err != nil || !has(t, s, "after") {
		t.Fatalf("write after the broken transaction: %v", err)
	}
}

// TestGroupCommitWithdraw: a writer whose context ends while it waits is withdrawn: it gets the
// context's error and its function never runs.
func TestGroupCommitWithdraw(t *testing.T) {
	s := openGrouped(t)
	holdTurn(s)
	ctx, cancel := context.WithCancel(t.Context())
	ran := false
	done := make(chan error)
	go func() {
		done <- s.inTx(ctx, func(querier) error { ran = true; return nil })
	}()
	waitQueued(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("withdrawn writer: %v, want context.Canceled", err)
	}
	<-s.g.turn
	if err := s.inTx(t.Context(), func(querier) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if ran {
		t.Fatal("the withdrawn writer's function ran")
	}
}

// TestGroupCommitSyncs: with SyncCommits, every writer is answered only after a sync that
// followed its commit (here the sync notes the rows committed when it runs), in the shared
// transaction and in the one-transaction-per-function fallback alike, one sync a batch.
func TestGroupCommitSyncs(t *testing.T) {
	s := openGrouped(t)
	var synced []map[string]bool // the rows committed at each sync
	if err := s.SyncCommits(t.Context(), "PRAGMA synchronous = NORMAL", func() error {
		rows, err := s.db.QueryContext(t.Context(), `SELECT k FROM t`)
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := map[string]bool{}
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				return err
			}
			seen[k] = true
		}
		synced = append(synced, seen)
		return rows.Err()
	}); err != nil {
		t.Fatal(err)
	}
	for _, broken := range []bool{false, true} {
		const n = 8
		synced = nil
		holdTurn(s)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				k := fmt.Sprint(broken, i)
				if broken && i == 3 { // each function then runs alone
					errs[i] = endShared(t.Context(), s)
					return
				}
				if errs[i] = insert(t.Context(), s, k); errs[i] == nil && (len(synced) == 0 || !synced[len(synced)-1][k]) {
					t.Errorf("writer %s answered before a sync of its commit", k)
				}
			})
		}
		waitQueued(t, s, n)
		<-s.g.turn
		wg.Wait()
		if len(synced) != 1 {
			t.Errorf("broken=%v: %d syncs for one batch, want 1", broken, len(synced))
		}
		for i, err := range errs {
			if (err != nil) != (broken && i == 3) {
				t.Errorf("broken=%v writer %d: %v", broken, i, err)
			}
		}
	}
}

// TestGroupCommitSyncFailure: after a sync fails, the writes of its commit get its error, though
// committed, and every later write fails with it without running; reads go on. The failing
// sync is hand-written: a real fdatasync error (EIO from the disk) cannot be had here.
func TestGroupCommitSyncFailure(t *testing.T) {
	s := openGrouped(t)
	errDisk := errors.New("fault injected by the test: the disk failed")
	fail := false
	if err := s.SyncCommits(t.Context(), "PRAGMA synchronous = NORMAL", func() error {
		if fail {
			return errDisk
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := insert(t.Context(), s, "before"); err != nil {
		t.Fatal(err)
	}
	if err := s.Failure(); err != nil {
		t.Fatalf("Failure before any failed sync: %v", err)
	}
	fail = true
	if err := insert(t.Context(), s, "unsynced"); !errors.Is(err, errDisk) {
		t.Fatalf("write whose sync failed: %v, want the sync's error", err)
	}
	if err := s.Failure(); !errors.Is(err, errDisk) {
		t.Fatalf("Failure after a failed sync: %v, want the sync's error", err)
	}
	if !has(t, s, "unsynced") {
		t.Fatal("the write whose sync failed was not committed: the test shows nothing")
	}
	fail = false
	ran := false
	err := s.inTx(t.Context(), func(querier) error { ran = true; return nil })
	if !errors.Is(err, errDisk) || ran {
		t.Fatalf("write after a failed sync: %v (ran %v), want the sync's error without running", err, ran)
	}
	if !has(t, s, "before") {
		t.Fatal("reads fail after a failed sync")
	}
}
