package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
	"github.com/mcpauth/mcpauth/authserver/store/storetest"
)

// TestRateCountsAcrossStores: two stores on one file (two processes) never overdraw a shared
// budget.
func TestRateCountsAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcpauth.db")
	a, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	storetest.RateCountsAcrossStores(t, a, b)
}
