package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/authserver/store/postgres"
	"github.com/mcpauth/mcpauth/authserver/store/storetest"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, testenv.PostgresDSN(t)) })
}

// TestConcurrentOpenMigratesOnce: instances starting together on an empty database apply the
// schema once (the advisory lock), and reopening is harmless and keeps the data.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	var wg sync.WaitGroup
	stores := make([]*postgres.Store, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(context.Background(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	if err := stores[0].CreateUser(ctx, &store.User{ID: "u1", Username: "alice", PasswordHash: "x", Scopes: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	again := open(t, dsn)
	defer again.Close()
	if u, err := again.GetUserByName(ctx, "alice"); err != nil || u.ID != "u1" {
		t.Fatalf("after reopen: %v, %v", u, err)
	}
	// A user created through one instance is seen by the others: they share the database.
	if u, err := stores[3].GetUser(ctx, "u1"); err != nil || u.Username != "alice" {
		t.Fatalf("other instance: %v, %v", u, err)
	}
}

// TestRefusesNewerSchema: a database migrated by a newer mcpauth is not used by an older one.
func TestRefusesNewerSchema(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	open(t, dsn).Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	if s, err := postgres.Open(t.Context(), dsn); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("opened a database with a newer schema: %v", err)
	}
}

// TestTextPostgreSQLCannotHold: keys from hostile requests that are not valid UTF-8 or hold a
// NUL byte are simply not found, as in SQLite, instead of failing with a database error; such
// values to store fail with ErrInvalidText.
func TestTextPostgreSQLCannotHold(t *testing.T) {
	s := open(t, testenv.PostgresDSN(t))
	defer s.Close()
	ctx := t.Context()
	for _, key := range []string{"\xff", "a\x00b", "\xc3("} {
		if _, err := s.GetClient(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClient(%q): %v", key, err)
		}
		if _, err := s.GetUserByName(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUserByName(%q): %v", key, err)
		}
		if _, err := s.RedeemAuthCode(ctx, key, time.Now()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RedeemAuthCode(%q): %v", key, err)
		}
		rotate := func(*store.RefreshToken, *store.Grant) (*store.RefreshToken, error) {
			return &store.RefreshToken{Hash: "n"}, nil
		}
		if err := s.RotateRefreshToken(ctx, key, time.Now(), rotate); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RotateRefreshToken(%q): %v", key, err)
		}
		if err := s.DeleteClient(ctx, key); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteClient(%q): %v", key, err)
		}
		if err := s.CreateUser(ctx, &store.User{ID: "u", Username: key, PasswordHash: "x"}); !errors.Is(err, postgres.ErrInvalidText) {
			t.Errorf("CreateUser(%q): %v", key, err)
		}
	}
}

// TestUpgradesOlderSchema: a database at an older schema version (here: version 1, before the
// device codes table, with access tokens recorded when issued) gets the missing migrations when
// a store opens, keeping its data: users, and the revocation of a revoked access token.
func TestUpgradesOlderSchema(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	if err := s.CreateUser(t.Context(), &store.User{ID: "u1", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `DROP TABLE device_codes; DROP TABLE revoked_access_tokens;
		CREATE TABLE access_tokens (jti TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL,
			subject TEXT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL DEFAULT 0);
		INSERT INTO access_tokens VALUES ('revoked', 'g', 'c', 'u', 4102444800000, 1), ('live', 'g', 'c', 'u', 4102444800000, 0);
		DELETE FROM schema_migrations WHERE version > 1`); err != nil {
		t.Fatal(err)
	}
	s = open(t, dsn)
	defer s.Close()
	now := time.Now()
	if err := s.CreateDeviceCode(t.Context(), &store.DeviceCode{Hash: "d", UserCodeHash: "u", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatalf("device codes after the upgrade: %v", err)
	}
	if u, err := s.GetUser(t.Context(), "u1"); err != nil || u.Username != "alice" {
		t.Fatalf("data after the upgrade: %v, %v", u, err)
	}
	for jti, want := range map[string]bool{"revoked": true, "live": false} {
		if r, err := s.AccessTokenRevoked(t.Context(), jti); err != nil || r != want {
			t.Fatalf("access token %q after the upgrade: revoked %v, %v; want %v", jti, r, err, want)
		}
	}
}

// TestPoolOptions: the pool options of the DSN (pgxpool's pool_*) are taken by the store, not sent
// to the server as settings it does not know.
func TestPoolOptions(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	s := open(t, dsn+sep+"pool_max_conns=2&pool_max_conn_lifetime=1h")
	defer s.Close()
	if err := s.CreateUser(t.Context(), &store.User{ID: "u1", Username: "alice", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
}
