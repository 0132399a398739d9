package sqlite_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/sqlite"
)

// BenchmarkRotateRefreshToken: the store's part of a refresh (the read of the token with its
// grant, then the rotation), 32 token chains rotated concurrently as at bench/'s 32
// connections (or the next multiple of GOMAXPROCS). Run with -cpu 1 for the server of
// bench/run.sh, pinned to one core. Keys look like the server's: grant ids of 128 random bits,
// token hashes of 64 hex digits (the server's keyed SHA-256).
//
// Besides the time per rotation it reports the process's CPU per rotation (cpu-µs/op: user and
// system time, which leaves out the time spent waiting for fsync) and the bytes it wrote per
// rotation (write-B/op: WAL frames, and their later copy into the database file by checkpoints).
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
	chains := make(chan string, par*runtime.GOMAXPROCS(0))
	for i := range cap(chains) {
		g := &store.Grant{ID: "g_" + rand.Text(), // like the server's: random, 20-odd characters
			ClientID: "c", Subject: "u", Scopes: []string{"a"},
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
	cpu0, wrote0 := cpuTime(b), bytesWritten(b)
	b.ResetTimer()
	b.SetParallelism(par)
	b.RunParallel(func(pb *testing.PB) {
		hash := <-chains
		for pb.Next() {
			if _, _, err := s.GetRefreshToken(ctx, hash); err != nil {
				b.Error(err)
				return
			}
			next := tokenHash(hash)
			if err := s.RotateRefreshToken(ctx, hash, &store.RefreshToken{Hash: next, ClientID: "c", CreatedAt: now,
				ExpiresAt: now.Add(time.Hour)}, now); err != nil {
				b.Error(err)
				return
			}
			hash = next
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	b.ReportMetric(float64(bytesWritten(b)-wrote0)/float64(b.N), "write-B/op")
}

// tokenHash stands for the server's keyed hash of a token: 64 hex digits, uniformly spread.
func tokenHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bytesWritten is what the process has passed to write system calls so far (/proc/self/io).
func bytesWritten(b *testing.B) int64 {
	io, err := os.ReadFile("/proc/self/io")
	if err != nil {
		b.Skip("no /proc/self/io:", err)
	}
	for line := range strings.Lines(string(io)) {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal("no wchar in /proc/self/io")
	return 0
}
