package sqlite_test

import (
	"path/filepath"
	"testing"

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
