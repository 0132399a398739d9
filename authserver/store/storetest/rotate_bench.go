// The store's part of a refresh token rotation (RFC 6749 §6, OAuth 2.1 §4.3.1) under load, as a
// benchmark each store runs.
package storetest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
)

// BenchmarkRotation measures the store's part of a refresh: RotateRefreshToken, which reads the
// token with its grant, asks a decision like the server's (client, expiry, the user still
// there) and rotates the token. 32 token chains, each of its own grant, are rotated
// concurrently as at bench/'s 32 connections (or the next multiple of GOMAXPROCS); run it with
// -cpu 1 for the server of bench/run.sh, pinned to one core. Keys look like the server's: grant
// ids of 128 random bits; token keys of the issue time (12 hex digits of Unix milliseconds),
// then 64 hex digits (the server's keyed SHA-256 of the token), so keys grow with time. started is called once the chains are set up, when the timed part begins.
func BenchmarkRotation(b *testing.B, s store.Store, started func()) {
	now := time.Now()
	if err := s.CreateUser(ctx, &store.User{ID: "u", Username: "u", PasswordHash: "x", Scopes: []string{"a"}}); err != nil {
		b.Fatal(err)
	}
	par := max(1, 32/runtime.GOMAXPROCS(0))
	chains := make(chan string, par*runtime.GOMAXPROCS(0))
	for i := range cap(chains) {
		g := &store.Grant{ID: "g_" + rand.Text(), ClientID: "c", Subject: "u", Scopes: []string{"a"},
			Resources: []string{"https://mcp.example.com/mcp"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateAuthCode(ctx, g, &store.AuthCode{Hash: tokenHash(fmt.Sprint("code", i)), GrantID: g.ID, ClientID: "c",
			Subject: "u", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			b.Fatal(err)
		}
		hash := tokenHash(fmt.Sprint("rt", i))
		if err := s.CreateRefreshToken(ctx, &store.RefreshToken{Hash: hash, GrantID: g.ID, ClientID: "c",
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		chains <- hash
	}
	started()
	b.ResetTimer()
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		hash := <-chains
		for pb.Next() {
			next := tokenHash(hash)
			if err := s.RotateRefreshToken(ctx, hash, now, func(rt *store.RefreshToken, g *store.Grant) (*store.RefreshToken, error) {
				if rt.ClientID != "c" || !rt.ExpiresAt.After(now) || !g.ExpiresAt.After(now) || g.SubjectScopes == nil {
					return nil, errors.New("refused")
				}
				return &store.RefreshToken{Hash: next, ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
			}); err != nil {
				b.Error(err)
				return
			}
			hash = next
		}
	})
	b.StopTimer()
}

// tokenHash stands for the server's key of a token issued now: the time, then the keyed hash of
// the token, 64 hex digits, uniformly spread.
func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%012x", time.Now().UnixMilli()) + hex.EncodeToString(sum[:])
}
