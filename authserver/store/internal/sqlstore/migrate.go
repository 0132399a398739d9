// Schema migrations, applied when a store opens: numbered SQL files in migrations/, run in
// order in one transaction, each recorded in schema_migrations. NNN_name.sql runs on every
// database; NNN_name.<Dialect.Name>.sql (e.g. 007_x.sqlite.sql and 007_x.postgres.sql) only on
// that one, for a change the two databases spell differently.
package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations for the database named dialect ordered by version
// (the number before "_").
func migrations(dialect string) ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		if only := strings.Split(strings.TrimSuffix(base, ".sql"), "."); len(only) > 1 && only[len(only)-1] != dialect {
			continue // another database's
		}
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s has no version number", base)
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have one version", out[i-1].name, out[i].name)
		}
	}
	return out, nil
}

// migrate brings the database's schema to the newest version. It refuses a database whose
// schema is newer than this program knows.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.d.Name)
	if err == nil {
		err = s.inTx(ctx, func(q querier) error { return applyMigrations(ctx, q, s.d.MigrationLock, ms) })
	}
	if err != nil {
		return fmt.Errorf("migrate schema: %w", err)
	}
	return nil
}

func applyMigrations(ctx context.Context, q querier, lock string, ms []migration) error {
	if lock != "" {
		if _, err := q.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	if _, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP)`); err != nil {
		return err
	}
	var current int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return err
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return fmt.Errorf("database schema version %d is newer than this program's %d; upgrade mcpauth", current, latest)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if _, err := q.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return err
		}
	}
	return nil
}
