package postgres_test

import (
	"testing"

	"github.com/mcpauth/mcpauth/authserver/store/storetest"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// TestRateCountsAcrossStores: two stores on one database, each with its own connection pool
// (two server instances), never overdraw a shared budget.
func TestRateCountsAcrossStores(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	storetest.RateCountsAcrossStores(t, a, b)
}
