// Prepared statements: with Dialect.PrepareStatements, every query of the store is parsed once
// per database connection instead of on every call (re-parsing was about a fifth of the token
// endpoint's CPU on SQLite; pgx caches prepared statements per connection by itself).
package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// querier runs SQL on the database or in a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmtCache holds one *sql.Stmt per query text. database/sql prepares a Stmt on each
// connection the first time it runs there and keeps it with the connection, so a query is
// parsed once per connection. The store's query texts are constants, so the cache is bounded.
//
// The first use of a query inside a transaction prepares it on another connection of the
// pool while the transaction holds its own: with a bounded pool, transactions holding every
// connection would wait for each other. Hence PrepareStatements needs an unbounded pool.
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // query text → *sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if prev, loaded := c.stmts.LoadOrStore(q, st); loaded { // prepared by another goroutine meanwhile
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// close closes every cached statement.
func (c *stmtCache) close() {
	c.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
}

// prepared is a querier on db, or in tx when tx is not nil, that runs each query through its
// cached statement when c is not nil.
type prepared struct {
	c  *stmtCache
	db *sql.DB
	tx *sql.Tx
	g  *group // when not nil, runs ExecContext outside a transaction as a grouped transaction
}

// direct is where a query runs unprepared.
func (p prepared) direct() querier {
	if p.tx != nil {
		return p.tx
	}
	return p.db
}

func (p prepared) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	st, err := p.c.get(ctx, q)
	if err != nil || p.tx == nil {
		return st, err
	}
	// Reuses the statement prepared on the transaction's connection, or prepares it there
	// (and keeps it for the connection); closed with the transaction.
	return p.tx.StmtContext(ctx, st), nil
}

func (p prepared) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if p.tx == nil && p.g != nil {
		var res sql.Result
		err := p.g.run(ctx, func(tx *sql.Tx) error {
			var err error
			res, err = prepared{c: p.c, db: p.db, tx: tx}.ExecContext(ctx, q, args...)
			return err
		})
		return res, err
	}
	if p.c == nil {
		return p.direct().ExecContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (p prepared) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if p.c == nil {
		return p.direct().QueryContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p prepared) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if p.c == nil {
		return p.direct().QueryRowContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		// A *sql.Row carries an error only from a query: this one runs unprepared, and the
		// database reports why it cannot run (the connection is down, the context is done).
		return p.direct().QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
