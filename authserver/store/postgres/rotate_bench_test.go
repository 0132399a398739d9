package postgres_test

import (
	"testing"

	"github.com/mcpauth/mcpauth/authserver/store/storetest"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// BenchmarkRotateRefreshToken: storetest.BenchmarkRotation on PostgreSQL (the database's own
// work is in its server's processes, not in this one's time per rotation alone).
func BenchmarkRotateRefreshToken(b *testing.B) {
	s := open(b, testenv.PostgresDSN(b))
	defer s.Close()
	storetest.BenchmarkRotation(b, s, func() {})
}
