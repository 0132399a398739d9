package sqlite_test

import (
	"testing"

	"github.com/mcpauth/mcpauth/authserver/store/storetest"
)

// TestRateCountsAcrossStores: two stores on one file (two processes) never overdraw a shared
// budget.
func TestRateCountsAcrossStores(t *testing.T) {
	a, b := twoHandles(t)
	storetest.RateCountsAcrossStores(t, a, b)
}
