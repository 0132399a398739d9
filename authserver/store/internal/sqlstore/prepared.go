// Prepared statements: with Dialect.PrepareStatements, every query of the store is parsed once
// per database connection instead of on every call (re-parsing was about a fifth of the token
// endpoint's CPU on SQLite; pgx caches prepared statements per connection by itself). Grouped
// writes (SQLite) run statements prepared on the group's connection.
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

// stmtCache holds one *sql.Stmt per query text, prepared on a database or on one connection.
// database/sql prepares a database's Stmt on each connection the first time it runs there and
// keeps it with the connection, so a query is parsed once per connection. The store's query
// texts are constants, so the cache is bounded.
//
// The first use of a database's query inside a transaction prepares it on another connection
// of the pool while the transaction holds its own: with a bounded pool, transactions holding
// every connection would wait for each other. Hence PrepareStatements needs an unbounded pool.
type stmtCache struct {
	on    preparer
	stmts sync.Map // query text → *sql.Stmt
}

// preparer prepares statements: a *sql.DB on each of its connections, a *sql.Conn on itself.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

func (c *stmtCache) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := c.on.PrepareContext(ctx, q)
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

// prepared is a querier that runs each query through its cached statement when c is not nil,
// and where on says: on the database, in a transaction (each statement through Tx.StmtContext),
// or on the group's connection (whose statements c prepares there).
type prepared struct {
	c  *stmtCache
	on querier // *sql.DB, *sql.Tx or *sql.Conn
	g  *group  // when not nil, runs ExecContext on the database as a grouped transaction
}

func (p prepared) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	st, err := p.c.get(ctx, q)
	tx, inTx := p.on.(*sql.Tx)
	if err != nil || !inTx {
		return st, err
	}
	// Reuses the statement prepared on the transaction's connection, or prepares it there
	// (and keeps it for the connection); closed with the transaction.
	return tx.StmtContext(ctx, st), nil
}

func (p prepared) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if p.g != nil {
		var res sql.Result
		err := p.g.run(ctx, func(in querier) error {
			var err error
			res, err = in.ExecContext(ctx, q, args...)
			return err
		})
		return res, err
	}
	if p.c == nil {
		return p.on.ExecContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (p prepared) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if p.c == nil {
		return p.on.QueryContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p prepared) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if p.c == nil {
		return p.on.QueryRowContext(ctx, q, args...)
	}
	st, err := p.stmt(ctx, q)
	if err != nil {
		// A *sql.Row carries an error only from a query: this one runs unprepared, and the
		// database reports why it cannot run (the connection is down, the context is done).
		return p.on.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
