package sqlstore

import (
	"context"
	"database/sql"

	"github.com/fieldsync/fieldsync"
)

// Dialect is everything that differs between the SQL databases fieldsync
// runs on. The sqlite and postgres packages each provide one; the rest of
// this package is plain SQL that both accept.
type Dialect interface {
	// Name is the database's name for messages ("sqlite", "postgres").
	Name() string
	// Placeholder returns the text of the n-th (1-based) statement parameter.
	Placeholder(n int) string
	// ColumnType returns the SQL type that stores a column type.
	ColumnType(t fieldsync.ColumnType) string
	// LockClause is appended to the SELECT that reads the Transaction Log's
	// sequence counter inside a write transaction, to lock it ("FOR UPDATE"),
	// or "" where the write transaction already excludes other writers.
	LockClause() string
	// SnapshotOptions are the options of a read-only transaction that sees
	// one consistent state of the database from its first statement on.
	SnapshotOptions() *sql.TxOptions
	// Lock takes the named exclusive lock across every process using the
	// database, waiting until it is free or ctx ends; the lock is released by
	// the returned function, or by the death of the process holding it.
	Lock(ctx context.Context, db *sql.DB, name string) (release func(), err error)
	// TableIndexes returns the names of a table's indexes.
	TableIndexes(ctx context.Context, q Querier, table string) ([]string, error)
	// TableColumns returns the columns an existing table has, or an empty
	// map when the table does not exist.
	TableColumns(ctx context.Context, q Querier, table string) (map[string]bool, error)
}

// Querier is what *sql.DB and *sql.Tx have in common.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// QueryStrings runs a query whose rows are one text column and returns them.
func QueryStrings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Set makes a set of names.
func Set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
