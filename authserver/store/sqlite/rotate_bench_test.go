package sqlite_test

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// BenchmarkRotateRefreshToken: the store's part of a refresh (the read of the token with its
// grant, then the rotation), 32 token chains rotated concurrently as at bench/'s 32
// connections (or the next multiple of GOMAXPROCS). Run with -cpu 1 for the server of bench/run.sh, pinned to one core.
func BenchmarkRotateRefreshToken(b *testing.B) {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "mcpauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := b.Context()
	now := time.Now()
	if err := s.CreateUser(ctx, &store.User{ID: "u", Username: "u", PasswordHash: "x", Scopes: []string{"a"}}); err != nil {
		b.Fatal(err)
	}
	par := max(1, 32/runtime.GOMAXPROCS(0))
	chains := par * runtime.GOMAXPROCS(0)
	var next atomic.Int64
	for i := range chains {
		g := &store.Grant{ID: fmt.Sprint("g", i), ClientID: "c", Subject: "u", Scopes: []string{"a"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateAuthCode(ctx, g, &store.AuthCode{Hash: fmt.Sprint("code", i), GrantID: g.ID, ClientID: "c",
			Subject: "u", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		if err := s.CreateRefreshToken(ctx, &store.RefreshToken{Hash: fmt.Sprint("rt", i, "-0"), GrantID: g.ID, ClientID: "c",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	var chain atomic.Int64
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		i := chain.Add(1) - 1
		hash := fmt.Sprint("rt", i, "-0")
		for pb.Next() {
			if _, _, err := s.GetRefreshToken(ctx, hash); err != nil {
				b.Error(err)
				return
			}
			n := fmt.Sprintf("rt%d-%d", i, next.Add(1))
			if err := s.RotateRefreshToken(ctx, hash, &store.RefreshToken{Hash: n, ClientID: "c", CreatedAt: now,
				ExpiresAt: now.Add(time.Hour)}, now); err != nil {
				b.Error(err)
				return
			}
			hash = n
		}
	})
}
