// Package testenv gives tests the real services and peers that scripts/test.sh
// starts or installs (PostgreSQL, Redis, Chromium, npm peers under test/).
//
// A test that needs a peer calls the matching function. When the peer is
// missing the test is skipped on a developer's machine, but fails when
// MCPAUTH_TEST_REQUIRE_PEERS=1 (set by scripts/test.sh), so CI can never pass
// by skipping the real thing.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// missing skips or fails t, depending on MCPAUTH_TEST_REQUIRE_PEERS.
func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("MCPAUTH_TEST_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s is required (MCPAUTH_TEST_REQUIRE_PEERS=1) but not available; run scripts/test.sh", what)
	}
	t.Skipf("%s not available; run scripts/test.sh to start it", what)
}

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// PostgresDSN returns the DSN of a fresh, empty database on the PostgreSQL
// server started by scripts/test.sh (MCPAUTH_TEST_POSTGRES_DSN). The
// database is dropped when the test ends.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("MCPAUTH_TEST_POSTGRES_DSN")
	if base == "" {
		missing(t, "PostgreSQL (MCPAUTH_TEST_POSTGRES_DSN)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), dbCounter.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, base); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("parse MCPAUTH_TEST_POSTGRES_DSN: %v", err)
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

var dbCounter atomic.Int64

// FreeAddr returns a 127.0.0.1 address nobody listened on a moment ago, for a server that must
// come back on the same address after a restart.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// RedisAddr returns host:port of the Redis server started by scripts/test.sh
// (MCPAUTH_TEST_REDIS_ADDR). Tests must use keys with a unique prefix.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("MCPAUTH_TEST_REDIS_ADDR")
	if addr == "" {
		missing(t, "Redis (MCPAUTH_TEST_REDIS_ADDR)")
	}
	return addr
}

// Chromium returns the path of the Debian chromium binary.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MCPAUTH_TEST_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "Chromium (/usr/bin/chromium)")
	return ""
}

// NodeModules returns test/node_modules, where scripts/test.sh installs the
// npm peers (oidc-provider, @modelcontextprotocol/sdk, the conformance suite,
// mcp-remote and Node 22).
func NodeModules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "test", "node_modules")
	if _, err := os.Stat(filepath.Join(dir, ".package-lock.json")); err != nil {
		missing(t, "npm peers (test/node_modules; run scripts/test.sh)")
	}
	return dir
}

// Node returns the path of the Node 22 binary installed by the npm package
// "node" in test/node_modules.
func Node(t testing.TB) string {
	t.Helper()
	p := filepath.Join(NodeModules(t), "node", "bin", "node")
	if _, err := os.Stat(p); err != nil {
		missing(t, "Node 22 (test/node_modules/node)")
	}
	return p
}

// BuildBinary builds the Go main package pkg (e.g. "./cmd/mcpauth") into a
// temporary directory and returns the binary's path.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(strings.TrimSuffix(pkg, "/")))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}
