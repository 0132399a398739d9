package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/authserver/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "mcpauth.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestReopen shows that data survives closing and reopening the file, and that applying the
// schema again is harmless.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(t.Context(), &store.User{ID: "u1", Username: "alice", PasswordHash: "x", Scopes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if u, err := s.GetUserByName(t.Context(), "alice"); err != nil || u.ID != "u1" {
		t.Fatalf("after reopen: %v, %v", u, err)
	}
}

// twoHandles opens two stores on one new file, as two processes would, closed when t ends.
func twoHandles(t *testing.T) (a, b *sqlite.Store) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	for _, s := range []**sqlite.Store{&a, &b} {
		var err error
		if *s, err = sqlite.Open(path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*s).Close() })
	}
	return a, b
}

// TestTwoHandlesOneFile: two stores on one file (two processes, say mcpauth serve and the
// mcpauth users command) see each other's writes, and a code is still redeemed exactly once.
func TestTwoHandlesOneFile(t *testing.T) {
	a, b := twoHandles(t)
	ctx := t.Context()
	now := time.Now()
	g := &store.Grant{ID: "g1", ClientID: "c1", Subject: "u1", Scopes: []string{}, Resources: []string{}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	c := &store.AuthCode{Hash: "h1", GrantID: "g1", ClientID: "c1", Subject: "u1", Scopes: []string{}, Resources: []string{}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := a.CreateAuthCode(ctx, g, c); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if _, err := s.RedeemAuthCode(ctx, "h1", now); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, store.ErrAlreadyUsed) {
				t.Errorf("redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d redemptions across two handles, want 1", ok.Load())
	}
}

// schemaBeforeMigrations is two tables as SQLite files held them before the store had schema
// migrations (the schema was applied at every open; no schema_migrations table).
const schemaBeforeMigrations = `
CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,
	scopes TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE device_codes (hash TEXT PRIMARY KEY, user_code_hash TEXT NOT NULL UNIQUE, client_id TEXT NOT NULL,
	scopes TEXT NOT NULL, resources TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
	last_polled_at INTEGER NOT NULL DEFAULT 0, decided_at INTEGER NOT NULL DEFAULT 0, approved INTEGER NOT NULL DEFAULT 0,
	subject TEXT NOT NULL DEFAULT '', grant_id TEXT NOT NULL DEFAULT '', used_at INTEGER NOT NULL DEFAULT 0);`

// TestAdoptsDatabaseBeforeMigrations: a file created before the store had schema migrations
// opens, keeps its data and gets the current schema.
func TestAdoptsDatabaseBeforeMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schemaBeforeMigrations); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO users (id, username, password_hash, scopes, created_at) VALUES ('u1', 'alice', 'x', 'a b', 1)`); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := db.Exec(`INSERT INTO device_codes (hash, user_code_hash, client_id, scopes, resources, created_at, expires_at, approved)
		VALUES ('d', 'uc', 'c', '', '', $1, $2, 1)`, now.UnixMilli(), now.Add(time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // adopting, then opening the adopted file
		s, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := s.GetUserByName(t.Context(), "alice"); err != nil || u.ID != "u1" || len(u.Scopes) != 2 {
			t.Fatalf("user after adopting: %v, %v", u, err)
		}
		// Approved, read from the INTEGER column of the old table.
		if d, err := s.PollDeviceCode(t.Context(), "d", now); err != nil && !errors.Is(err, store.ErrAlreadyUsed) || !d.Approved {
			t.Fatalf("device code after adopting: %+v, %v", d, err)
		}
		s.Close()
	}
}

// TestConcurrentWritesCheckpointed: 64 writers at once all land (the store's write queue
// admits one at a time; none fails on SQLite's lock), and the background checkpoint copies
// them from the WAL into the database file while the store stays open (SQLite's own automatic
// checkpoint is off).
func TestConcurrentWritesCheckpointed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := fileSize(t, path)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for j := range 20 {
				c := &store.Client{ID: fmt.Sprintf("c-%d-%d", i, j), Kind: store.ClientDynamic, Metadata: []byte(`{"client_name":"` +
					strings.Repeat("x", 500) + `"}`), CreatedAt: time.Now()}
				if err := s.CreateClient(t.Context(), c); err != nil {
					t.Errorf("client %s: %v", c.ID, err)
				}
			}
		})
	}
	wg.Wait()
	list, err := s.ListClients(t.Context())
	if err != nil || len(list) != 64*20 {
		t.Fatalf("%d clients stored, want %d (%v)", len(list), 64*20, err)
	}
	// 1,280 clients of over 500 bytes are more than 160 pages: the file grows once they are
	// checkpointed (a few checkpoint intervals; the deadline only bounds a broken checkpoint).
	for deadline := time.Now().Add(10 * time.Second); fileSize(t, path) < before+160*4096; {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after the writes (%d before): the WAL was not checkpointed", fileSize(t, path), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
