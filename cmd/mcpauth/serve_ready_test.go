package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// TestStoreReadyAfterFailedSync: /readyz's store check passes on a working SQLite store and
// fails, saying to restart, once a failed sync has stopped its writes. The failing sync is a
// fault injected by the test (SyncCommits), as a real fsync error (EIO) cannot be had here;
// PostgreSQL down is test/load's TestPostgresOutage, on a real server.
func TestStoreReadyAfterFailedSync(t *testing.T) {
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "mcpauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := storeReady(t.Context(), st); err != nil {
		t.Fatalf("a working store: %v", err)
	}
	errDisk := errors.New("fault injected by the test: the disk failed")
	if err := st.SyncCommits(t.Context(), "PRAGMA synchronous = NORMAL", func() error { return errDisk }); err != nil {
		t.Fatal(err)
	}
	c := &store.Client{ID: "mcp_ready", Kind: store.ClientDynamic, CreatedAt: time.Now()}
	if err := st.CreateClient(t.Context(), c); !errors.Is(err, errDisk) {
		t.Fatalf("a write whose sync failed: %v, want the sync's error", err)
	}
	err = storeReady(t.Context(), st)
	if err == nil || !strings.Contains(err.Error(), "restart the server") {
		t.Fatalf("a store whose sync failed: %v, want not ready, saying to restart", err)
	}
}
