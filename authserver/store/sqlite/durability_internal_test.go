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

// TestConnectionSettings: every connection of the store runs in WAL mode with synchronous=FULL
// (a commit is fsynced before it is acknowledged: durable across a power loss, not only a crash
// of the process), immediate transactions and no automatic checkpoint in commits.
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
	defer func(n int) { walRestartFrames = n }(walRestartFrames)
	walRestartFrames = 64
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
