package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
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
