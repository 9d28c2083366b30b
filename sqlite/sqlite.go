// Package sqlite is the server database on SQLite, the embedded default: one
// file, no server to run. It supplies the SQLite dialect to the shared SQL
// store and opens the database the way a synchronizer needs it (WAL, full
// fsync on commit, one writer at a time, readers alongside).
//
// The driver is modernc.org/sqlite: SQLite itself, translated to Go, so the
// binary builds without cgo or a C toolchain and cross-compiles like any Go
// program. It is slower than the cgo driver on raw inserts, but the write
// path's cost is dominated by its checks and the commit fsync, and the
// benchmarks in BENCHMARKS.md meet the bars of docs/design.md with it.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
)

// Store is the server database on SQLite.
type Store = sqlstore.Store

// Open opens (creating if needed) the SQLite database at path for the
// schema, and upgrades it to this build's layout.
func Open(ctx context.Context, path string, s *fieldsync.Schema) (*Store, error) {
	return open(ctx, path, s, sqlstore.Options{})
}

func open(ctx context.Context, path string, s *fieldsync.Schema, opts sqlstore.Options) (*Store, error) {
	write, err := OpenDB(path, true)
	if err != nil {
		return nil, err
	}
	read, err := OpenDB(path, false)
	if err != nil {
		write.Close()
		return nil, err
	}
	st, err := sqlstore.OpenWith(ctx, Dialect{Path: path}, write, read, s, opts)
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return st, nil
}

// OpenDB opens a connection pool on the SQLite file at path. A writer pool
// has a single connection whose transactions start with BEGIN IMMEDIATE, so
// a write transaction never fails half-way for want of the write lock; a
// reader pool has several connections that read the last committed state
// beside it (WAL).
func OpenDB(path string, writer bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(OFF)")
	if writer {
		q.Set("_txlock", "immediate")
	}
	// Processes opening a new file at the same moment take turns: turning
	// on WAL mode is not retried by SQLite's busy handler.
	release, err := durable.Lock(context.Background(), path+"-open.lock")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer release()
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if writer {
		db.SetMaxOpenConns(1)
	} else {
		db.SetMaxOpenConns(4)
	}
	db.SetConnMaxIdleTime(0)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// Dialect is SQLite's SQL dialect. Path is the database file (locks live
// beside it).
type Dialect struct{ Path string }

// Name returns "sqlite".
func (Dialect) Name() string { return "sqlite" }

// Placeholder returns "?NNN", SQLite's numbered parameter.
func (Dialect) Placeholder(n int) string { return fmt.Sprintf("?%d", n) }

// ColumnType maps column types onto SQLite's storage classes.
func (Dialect) ColumnType(t fieldsync.ColumnType) string {
	switch t {
	case fieldsync.TypeInteger, fieldsync.TypeBoolean:
		return "INTEGER"
	case fieldsync.TypeReal:
		return "REAL"
	default:
		return "TEXT"
	}
}

// LockClause is empty: the writer's BEGIN IMMEDIATE already excludes other writers.
func (Dialect) LockClause() string { return "" }

// SnapshotOptions is nil: an SQLite read transaction in WAL mode reads one
// snapshot from its first statement on.
func (Dialect) SnapshotOptions() *sql.TxOptions { return nil }

// TableColumns reads a table's columns from PRAGMA table_info.
func (Dialect) TableColumns(ctx context.Context, q sqlstore.Querier, table string) (map[string]bool, error) {
	names, err := sqlstore.QueryStrings(ctx, q, "SELECT name FROM pragma_table_info(?1)", table)
	return sqlstore.Set(names), err
}

// TableIndexes reads a table's indexes from sqlite_master.
func (Dialect) TableIndexes(ctx context.Context, q sqlstore.Querier, table string) ([]string, error) {
	return sqlstore.QueryStrings(ctx, q, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1", table)
}

// Lock takes an exclusive flock on the file PATH-NAME.lock: the kernel
// releases it when the holding process dies.
func (d Dialect) Lock(ctx context.Context, _ *sql.DB, name string) (func(), error) {
	return durable.Lock(ctx, d.Path+"-"+name+".lock")
}
