// Package postgres is the server database on PostgreSQL, for real
// installations: the same store as the embedded SQLite default (the shared
// SQL of internal/sqlstore), with PostgreSQL's dialect. Writers serialize on
// the Transaction Log's sequence counter row (SELECT ... FOR UPDATE), so
// sequence numbers stay gap-free and in commit order under concurrent
// writers: a slower transaction can never commit a number below one already
// visible to the Transaction Processor. Writes made at the same time share
// one transaction and its commit (the store's group commit), so the writers
// waiting on the counter wait for one flush to disk, not one each.
//
// The driver is github.com/jackc/pgx/v5 (through its database/sql adapter):
// the maintained, pure-Go PostgreSQL driver most Go projects use.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
)

// Store is the server database on PostgreSQL.
type Store = sqlstore.Store

// Open connects to the PostgreSQL database at url (postgres://...) and
// creates or upgrades the schema's tables there, in the connection's
// current schema (search_path).
func Open(ctx context.Context, url string, s *fieldsync.Schema) (*Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	st, err := sqlstore.Open(ctx, Dialect{}, db, db, s)
	if err != nil {
		db.Close()
		return nil, err
	}
	return st, nil
}

// Dialect is PostgreSQL's SQL dialect.
type Dialect struct{}

// Name returns "postgres".
func (Dialect) Name() string { return "postgres" }

// Placeholder returns "$n".
func (Dialect) Placeholder(n int) string { return fmt.Sprintf("$%d", n) }

// ColumnType maps column types onto PostgreSQL types. Timestamps and file
// references are kept as their canonical text, as on SQLite, so values
// round-trip exactly.
func (Dialect) ColumnType(t fieldsync.ColumnType) string {
	switch t {
	case fieldsync.TypeInteger:
		return "BIGINT"
	case fieldsync.TypeReal:
		return "DOUBLE PRECISION"
	case fieldsync.TypeBoolean:
		return "BOOLEAN"
	default:
		return "TEXT"
	}
}

// LockClause locks the sequence counter row for the writing transaction.
func (Dialect) LockClause() string { return " FOR UPDATE" }

// SnapshotOptions: a repeatable-read, read-only transaction sees one
// snapshot from its first statement on.
func (Dialect) SnapshotOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// TableColumns reads a table's columns in the current schema.
func (Dialect) TableColumns(ctx context.Context, q sqlstore.Querier, table string) (map[string]bool, error) {
	names, err := sqlstore.QueryStrings(ctx, q, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", table)
	return sqlstore.Set(names), err
}

// TableIndexes reads a table's indexes in the current schema.
func (Dialect) TableIndexes(ctx context.Context, q sqlstore.Querier, table string) ([]string, error) {
	return sqlstore.QueryStrings(ctx, q, "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", table)
}

// Lock takes a PostgreSQL session advisory lock on a connection of its own:
// PostgreSQL releases it when that session ends, so a process that dies
// frees it for a standby. Advisory locks belong to the whole database, so
// the key includes the current schema: installations in two schemas of one
// database do not lock each other out.
func (Dialect) Lock(ctx context.Context, db *sql.DB, name string) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	var schema string
	if err := conn.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	key := int64(fnv64(schema + ":" + name))
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() {
		conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key)
		conn.Close()
	}, nil
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte("fieldsync:" + s))
	return h.Sum64()
}
