// Package postgres is the store.Store of the authorization server on PostgreSQL (pgx/v5 through
// database/sql), for several server instances sharing one database. Its schema is migrated when
// a store opens, under an advisory lock. Single-use operations lock the rows they decide on
// (SELECT ... FOR UPDATE), so concurrent redemptions of one code or rotations of one refresh
// token are serialised by PostgreSQL, whichever instance serves them.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/mcpauth/mcpauth/authserver/store/internal/sqlstore"
)

// Store is a store.Store and store.DeviceStore (its methods are sqlstore.Store's) on a
// PostgreSQL database.
type Store struct {
	*sqlstore.Store
}

// ErrInvalidText: a value to store is not valid UTF-8 or holds a NUL byte, which PostgreSQL
// text cannot hold (SQLite can). Keys like that are simply not found.
var ErrInvalidText = sqlstore.ErrInvalidText

// migrationLock is the key of the PostgreSQL advisory lock that serialises migrations, so
// instances starting together do not apply one migration twice.
const migrationLock = 0x6d6370617574 // "mcpaut"

var dialect = sqlstore.Dialect{
	Name:          "postgres",
	RowLocks:      true,
	MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
	Classify:      classify,
}

// Open connects to the database at dsn (a PostgreSQL URL or key=value string, see
// pgxpool.ParseConfig; pool_max_conns sizes the pool, pool_max_conn_lifetime and
// pool_max_conn_idle_time age its connections) and migrates its schema to the current version.
// It refuses a database whose schema is newer than this program knows.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	s, err := sqlstore.Open(ctx, db, dialect)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Store{s}, nil
}

// classify maps PostgreSQL error codes (Appendix A of its manual).
func classify(err error) sqlstore.ErrorKind {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return sqlstore.Other
	}
	switch pe.Code {
	case "23505": // unique_violation
		return sqlstore.Unique
	case "22021": // character_not_in_repertoire: invalid UTF-8 or NUL in text
		return sqlstore.InvalidText
	case "40P01", "40001": // deadlock_detected, serialization_failure
		return sqlstore.Transient
	}
	return sqlstore.Other
}
