package sqlite

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// TestConnectionSettings: every connection of the store opens in WAL mode with synchronous=FULL
// (a commit is fsynced before it is acknowledged: durable across a power loss, not only a crash
// of the process; on Linux the writer's connection then leaves the sync to the store, see
// TestWritesAnsweredOnceDurable), immediate transactions and no automatic checkpoint in commits.
func TestConnectionSettings(t *testing.T) {
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "mcpauth.db")))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for pragma, want := range map[string]string{
		"journal_mode":       "wal",
		"synchronous":        "2", // FULL
		"wal_autocheckpoint": "0",
		"foreign_keys":       "1",
		"busy_timeout":       "10000",
	} {
		var got string
		if err := db.QueryRow("PRAGMA " + pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestWALStartsAgainUnderSteadyWrites: under writes that never pause, the WAL does not grow
// with everything written (SQLite starts it again only at a write that finds all of it copied
// into the database, which a steady load never leaves time for): the checkpoints have it
// start again from its beginning once it holds walRestartFrames pages.
func TestWALStartsAgainUnderSteadyWrites(t *testing.T) {
	s, path := openRestartingAt(t, 64)
	hash := strings.Repeat("h", 4096) // each user takes at least a page of its own
	var written atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(20 * checkpointInterval)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				id := fmt.Sprint(w, "-", i)
				if err := s.CreateUser(t.Context(), &store.User{ID: id, Username: id, PasswordHash: hash}); err != nil {
					t.Error(err)
					return
				}
				written.Add(int64(len(hash)))
			}
		})
	}
	wg.Wait()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Never started again, the WAL holds everything written and more (index pages, frame
	// headers): 3.6 times the users' bytes when measured.
	if fi.Size() > written.Load() {
		t.Fatalf("WAL of %d bytes after %d bytes of users written: it was not started again", fi.Size(), written.Load())
	}
	t.Logf("WAL %d bytes after %d bytes of users written", fi.Size(), written.Load())
}

// TestLongReadDoesNotStopWrites: a read that holds its snapshot for long (another process
// sharing the file, a backup) keeps the WAL from starting again, and the RESTART checkpoint,
// which holds the store's write turn, waits for it at most restartWait, not busyTimeout: the
// store's writes go on.
func TestLongReadDoesNotStopWrites(t *testing.T) {
	s, path := openRestartingAt(t, 1)
	ctx := t.Context()
	if err := s.CreateUser(ctx, &store.User{ID: "u", Username: "u", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	reader, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	var n int
	if err := reader.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil { // takes its snapshot
		t.Fatal(err)
	}
	var slowest time.Duration
	for i, stop := 0, time.Now().Add(5*checkpointInterval); time.Now().Before(stop); i++ {
		start := time.Now()
		id := fmt.Sprint("w", i)
		if err := s.CreateUser(ctx, &store.User{ID: id, Username: id, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > busyTimeout/4 {
		t.Fatalf("a write took %v while a read held its snapshot", slowest)
	}
}

// openRestartingAt opens a store on a new file whose checkpoints start the WAL again from
// frames pages on; it is closed, and walRestartFrames restored, when t ends.
func openRestartingAt(t *testing.T, frames int) (*Store, string) {
	t.Helper()
	old := walRestartFrames
	walRestartFrames = frames
	t.Cleanup(func() { walRestartFrames = old })
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}
