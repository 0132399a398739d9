package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/mcpauth/mcpauth/authserver/store"
	"github.com/mcpauth/mcpauth/internal/testenv"
)

// TestRefreshTokensKeptByUpgrade: a database at schema version 6 (refresh tokens found by an
// index on their grant, not chained) with tokens in it is upgraded in place when a store opens.
// The tokens stored before keep working: an unused one is read and rotated, a used one is
// still detected as reused (and revokes its grant), and the janitor deletes the tokens of an
// expired grant, old and new ones alike, and keeps those of a live grant.
func TestRefreshTokensKeptByUpgrade(t *testing.T) {
	other := func(error) ErrorKind { return Other }
	for name, open := range map[string]func(t *testing.T) (*sql.DB, Dialect){
		"sqlite": func(t *testing.T) (*sql.DB, Dialect) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+
				"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			return db, Dialect{Name: "sqlite", Classify: other, PrepareStatements: true, SerializeWrites: true}
		},
		"postgres": func(t *testing.T) (*sql.DB, Dialect) {
			db, err := sql.Open("pgx", testenv.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			return db, Dialect{Name: "postgres", RowLocks: true, Classify: other}
		},
	} {
		t.Run(name, func(t *testing.T) {
			db, d := open(t)
			ctx := t.Context()
			migrateTo(t, db, d.Name, 6)
			t0 := time.Now().Truncate(time.Millisecond).UTC()
			live, expired := t0.Add(time.Hour).UnixMilli(), t0.Add(time.Minute).UnixMilli()
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO users (id, username, password_hash, scopes, created_at) VALUES ('u1', 'alice', 'x', 'read', 1)`, nil},
				{`INSERT INTO grants (id, client_id, subject, scopes, resources, created_at, expires_at)
					VALUES ('live', 'c1', 'u1', 'read', 'https://mcp.example/mcp', 1, $1), ('old', 'c1', 'u1', 'read', '', 1, $2)`,
					[]any{live, expired}},
				// live: a1 was rotated to a2 before the upgrade; old: b1 was never used.
				{`INSERT INTO refresh_tokens (hash, grant_id, client_id, created_at, expires_at, used_at)
					VALUES ('a1', 'live', 'c1', 1, $1, 2), ('a2', 'live', 'c1', 2, $1, 0), ('b1', 'old', 'c1', 1, $2, 0)`,
					[]any{live, expired}},
			} {
				if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
					t.Fatal(err)
				}
			}

			s, err := Open(ctx, db, d) // upgrades
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rt, g, err := s.GetRefreshToken(ctx, "a2")
			if err != nil || rt.GrantID != "live" || rt.ClientID != "c1" || !rt.UsedAt.IsZero() || g.ExpiresAt.UnixMilli() != live ||
				len(g.SubjectScopes) != 1 {
				t.Fatalf("token stored before the upgrade: %+v %+v, %v", rt, g, err)
			}
			next := func(hash string) store.RotationDecision {
				return func(*store.RefreshToken, *store.Grant) (*store.RefreshToken, error) {
					return &store.RefreshToken{Hash: hash, ClientID: "c1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, nil
				}
			}
			for _, r := range [][2]string{{"a2", "a3"}, {"a3", "a4"}, {"b1", "b2"}} {
				if err := s.RotateRefreshToken(ctx, r[0], t0, next(r[1])); err != nil {
					t.Fatalf("rotate %s: %v", r[0], err)
				}
			}

			// The janitor at an hour's end deletes old's tokens, chained to one stored before.
			if n, err := s.DeleteExpired(ctx, t0.Add(30*time.Minute)); err != nil || n != 3 { // b1, b2, grant old
				t.Fatalf("deleted after old expired: %d, %v; want 3", n, err)
			}
			if n := rows(t, db); n != 4 {
				t.Fatalf("%d refresh tokens left, want live's 4", n)
			}
			if err := s.RotateRefreshToken(ctx, "a1", t0, next("x")); !errors.Is(err, store.ErrAlreadyUsed) {
				t.Fatalf("reuse of a token used before the upgrade: %v, want ErrAlreadyUsed", err)
			}
			if err := s.RotateRefreshToken(ctx, "a4", t0, next("x")); !errors.Is(err, store.ErrRevoked) {
				t.Fatalf("after the reuse: %v, want ErrRevoked", err)
			}
			if _, err := s.DeleteExpired(ctx, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if n := rows(t, db); n != 0 {
				t.Fatalf("%d refresh tokens left after every grant expired, want none", n)
			}
		})
	}
}

// migrateTo applies the migrations of the database named dialect up to version.
func migrateTo(t *testing.T, db *sql.DB, dialect string, version int) {
	t.Helper()
	ms, err := migrations(dialect)
	if err != nil {
		t.Fatal(err)
	}
	var upTo []migration
	for _, m := range ms {
		if m.version <= version {
			upTo = append(upTo, m)
		}
	}
	tx, err := db.BeginTx(t.Context(), nil)
	if err == nil {
		err = applyMigrations(t.Context(), tx, "", upTo)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func rows(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM refresh_tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
