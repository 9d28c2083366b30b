// Package sqlstore is the server database on SQL: the synchronized tables,
// the Transaction Log, the node registry and the API tokens, written once in
// SQL that SQLite and PostgreSQL both accept. Each database's package (sqlite,
// later postgres) opens the connections and supplies a Dialect with what
// differs; nothing outside those packages knows which database is in use.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Store is a fieldsync.Store on a SQL database.
type Store struct {
	d      Dialect
	write  *sql.DB // write transactions (one connection on SQLite)
	read   *sql.DB // reads; may be the same pool as write
	schema *fieldsync.Schema
	now    func() time.Time
	local  bool       // a remote node's local database (see Options.Local)
	group  writeGroup // concurrent Apply calls sharing a commit (group.go)

	schemaChange  string            // how the schema differs from the one recorded before (SchemaChange)
	schemaStored  bool              // the schema is the one the database recorded (SchemaFromDatabase)
	schemaVersion int64             // the version of schema, as opened
	prevSchema    *fieldsync.Schema // the schema the database recorded before, when it reads

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every commit

	// cur is the schema in force with the statement texts built from it;
	// swapped whole when a new schema version is applied (SetSchema).
	cur atomic.Pointer[compiled]
	// versions are recorded schema versions, parsed (SchemaAt); under mu.
	versions map[int64]*fieldsync.Schema
}

// compiled is a schema and the statement texts built once from it.
type compiled struct {
	schema    *fieldsync.Schema
	version   int64             // the schema version (0: not recorded, a local database's before it knew)
	selectRow map[string]string // table -> SELECT cols FROM t WHERE id = $1
	insertRow map[string]string // table -> INSERT INTO t (cols) VALUES (...)
	upsertRow map[string]string // table -> INSERT ... ON CONFLICT (id) DO UPDATE (a row sent whole)
	deleteRow map[string]string // table -> DELETE FROM t WHERE id = $1
	colList   map[string]string // table -> "id","name",...
	exists    map[string]string // table -> SELECT 1 FROM t WHERE id = $1 (a foreign key's check)
	logInsert string            // INSERT INTO fs_log ... (one entry)
}

var _ fieldsync.Store = (*Store)(nil)

// Options changes how a Store behaves.
type Options struct {
	// Local makes the store a remote node's local database: it holds only
	// the rows the node sees, so references may point at rows it does not
	// hold, and unique keys are the server's to enforce (rows added on both
	// sides meet there). Local stores check neither.
	Local bool
}

// Open prepares a Store over the given connection pools: it runs the
// store's own migrations and creates or upgrades the schema's tables. write
// and read may be the same pool. A nil schema is the one the database
// recorded when it was last opened (the built-in CRM schema on a new
// database); a server store records the schema it opens with (its YAML
// text and hash, in fs_meta).
func Open(ctx context.Context, d Dialect, write, read *sql.DB, s *fieldsync.Schema) (*Store, error) {
	return OpenWith(ctx, d, write, read, s, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, d Dialect, write, read *sql.DB, s *fieldsync.Schema, opts Options) (*Store, error) {
	st := &Store{d: d, write: write, read: read, schema: s, now: time.Now, changed: make(chan struct{}), local: opts.Local}
	if err := st.upgrade(ctx); err != nil {
		return nil, err
	}
	st.SetSchema(st.schema, st.schemaVersion)
	return st, nil
}

// compile builds the statement texts of schema s.
func compile(d Dialect, s *fieldsync.Schema, version int64) *compiled {
	c := &compiled{schema: s, version: version, selectRow: map[string]string{}, insertRow: map[string]string{},
		colList: map[string]string{}, upsertRow: map[string]string{}, deleteRow: map[string]string{}, exists: map[string]string{}}
	var ph9 []string
	for i := 1; i <= 9; i++ {
		ph9 = append(ph9, d.Placeholder(i))
	}
	c.logInsert = "INSERT INTO fs_log (seq, op, tbl, row_id, vals, prev, origin, at, usr) VALUES (" + strings.Join(ph9, ", ") + ")"
	for _, t := range s.Tables {
		cols := make([]string, len(t.Columns))
		ph := make([]string, len(t.Columns))
		for i, col := range t.Columns {
			cols[i] = quote(col.Name)
			ph[i] = d.Placeholder(i + 1)
		}
		c.colList[t.Name] = strings.Join(cols, ", ")
		c.selectRow[t.Name] = fmt.Sprintf("SELECT %s FROM %s WHERE id = %s", c.colList[t.Name], quote(t.Name), d.Placeholder(1))
		c.insertRow[t.Name] = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", quote(t.Name), c.colList[t.Name], strings.Join(ph, ", "))
		var sets []string
		for _, col := range t.Columns[1:] {
			sets = append(sets, quote(col.Name)+" = excluded."+quote(col.Name))
		}
		if len(sets) == 0 {
			c.upsertRow[t.Name] = c.insertRow[t.Name] + " ON CONFLICT (id) DO NOTHING"
		} else {
			c.upsertRow[t.Name] = c.insertRow[t.Name] + " ON CONFLICT (id) DO UPDATE SET " + strings.Join(sets, ", ")
		}
		c.deleteRow[t.Name] = fmt.Sprintf("DELETE FROM %s WHERE id = %s", quote(t.Name), d.Placeholder(1))
		c.exists[t.Name] = fmt.Sprintf("SELECT 1 FROM %s WHERE id = %s", quote(t.Name), d.Placeholder(1))
	}
	return c
}

// placeholders returns the texts of the first n statement parameters,
// comma-separated.
func (st *Store) placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = st.d.Placeholder(i + 1)
	}
	return strings.Join(p, ", ")
}

// Schema returns the schema in force.
func (st *Store) Schema() *fieldsync.Schema {
	if c := st.cur.Load(); c != nil {
		return c.schema
	}
	return st.schema // while opening
}

// SchemaVersion returns the version of the schema in force (0 when none
// is recorded: a local database of an earlier build).
func (st *Store) SchemaVersion() int64 {
	if c := st.cur.Load(); c != nil {
		return c.version
	}
	return st.schemaVersion // while opening
}

// SetSchema puts schema s, version v, in force for every later statement.
// The caller has made the database's tables s's (syncSchema, a server's
// schema apply, a node's local migration).
func (st *Store) SetSchema(s *fieldsync.Schema, v int64) { st.cur.Store(compile(st.d, s, v)) }

// stmts returns the statement texts of the schema in force.
func (st *Store) stmts() *compiled { return st.cur.Load() }

// Close closes the connection pools.
func (st *Store) Close() error {
	err := st.write.Close()
	if st.read != st.write {
		err = errors.Join(err, st.read.Close())
	}
	return err
}

// DB returns the write pool, for components that keep their own state in
// the server database next to the data (router and merger positions).
func (st *Store) DB() *sql.DB { return st.write }

// quote quotes an identifier. Identifiers come only from the validated
// schema (lowercase letters, digits, underscores), so this never escapes.
func quote(ident string) string { return `"` + ident + `"` }

// SetClock replaces the clock used to stamp transactions (tests).
func (st *Store) SetClock(now func() time.Time) { st.now = now }

// syncSchema makes the database's tables the schema's, at open: it
// refuses changes that would reinterpret stored data (a column's type) or
// that existing rows break, each with its reason, creates the schema's
// tables, adds columns the schema gained, and (on a server) records the
// schema as a new version when it differs from the last one. Tables and
// columns the schema dropped stay in the database untouched.
func (st *Store) syncSchema(ctx context.Context) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		old := st.prevSchema
		if old == nil {
			old = st.schema // nothing to compare with but the stored types
		}
		plan, err := st.plan(ctx, tx, old, st.schema)
		if err != nil {
			return err
		}
		if plan.Refused != nil {
			return plan.Refused
		}
		if err := st.migrateTables(ctx, tx, st.prevSchema, st.schema); err != nil {
			return err
		}
		if st.local {
			return nil
		}
		st.schemaVersion, err = st.recordVersion(ctx, tx, st.schema, "server start", false)
		return err
	})
}

// migrateTables makes the database's tables schema s's, old the schema in
// force before (nil: not known): tables created, columns added (with their
// default in existing rows), indexes made, and s recorded in fs_meta.
func (st *Store) migrateTables(ctx context.Context, tx *sql.Tx, old, s *fieldsync.Schema) error {
	types, err := st.storedTypes(ctx, tx)
	if err != nil {
		return err
	}
	for _, t := range s.Tables {
		if err := st.syncTable(ctx, tx, t); err != nil {
			return err
		}
		if err := st.fillDefaults(ctx, tx, old, t); err != nil {
			return err
		}
		if err := st.syncIndexes(ctx, tx, t); err != nil {
			return err
		}
		if types[t.Name] == nil {
			types[t.Name] = map[string]fieldsync.ColumnType{}
		}
		for _, c := range t.Columns {
			types[t.Name][c.Name] = c.Type
		}
	}
	raw, err := json.Marshal(types)
	if err != nil {
		return err
	}
	if err := st.setMeta(ctx, tx, "schema_columns", string(raw)); err != nil {
		return err
	}
	if err := st.recordSchema(ctx, tx, s); err != nil {
		return err
	}
	return st.setMeta(ctx, tx, "schema_fingerprint", s.Fingerprint())
}

// fillDefaults gives the existing rows of t the default of each column
// with one that the schema in force before lacked.
func (st *Store) fillDefaults(ctx context.Context, tx *sql.Tx, old *fieldsync.Schema, t *fieldsync.Table) error {
	if old == nil || old.Table(t.Name) == nil {
		return nil
	}
	for _, c := range t.Columns {
		if c.Default == nil || old.Table(t.Name).Column(c.Name) != nil {
			continue
		}
		q := fmt.Sprintf("UPDATE %s SET %s = %s WHERE %s IS NULL", quote(t.Name), quote(c.Name), st.d.Placeholder(1), quote(c.Name))
		if _, err := tx.ExecContext(ctx, q, c.Default); err != nil {
			return fmt.Errorf("give %s.%s its default: %w", t.Name, c.Name, err)
		}
	}
	return nil
}

// syncTable creates a table of the schema, or adds the columns it gained.
func (st *Store) syncTable(ctx context.Context, tx *sql.Tx, t *fieldsync.Table) error {
	have, err := st.d.TableColumns(ctx, tx, t.Name)
	if err != nil {
		return fmt.Errorf("inspect table %s: %w", t.Name, err)
	}
	if len(have) == 0 {
		defs := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			defs[i] = quote(c.Name) + " " + st.d.ColumnType(c.Type)
			if c.Name == "id" {
				defs[i] += " PRIMARY KEY"
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE TABLE %s (%s)", quote(t.Name), strings.Join(defs, ", "))); err != nil {
			return fmt.Errorf("create table %s: %w", t.Name, err)
		}
		return nil
	}
	for _, c := range t.Columns {
		if have[c.Name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", quote(t.Name), quote(c.Name), st.d.ColumnType(c.Type))); err != nil {
			return fmt.Errorf("add column %s.%s: %w", t.Name, c.Name, err)
		}
	}
	return nil
}

// syncIndexes indexes a table's foreign keys and makes its unique keys
// the schema's (a local database enforces none: the server does). A
// server database also indexes the other columns the Database Extract
// looks rows up by: owner columns that are not foreign keys, and the mode
// column of a table in attachment modes.
func (st *Store) syncIndexes(ctx context.Context, tx *sql.Tx, t *fieldsync.Table) error {
	indexed := t.ForeignKeys()
	if !st.local {
		indexed = append(indexed, walkColumns(t)...)
	}
	for _, c := range indexed {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON %s (%s)",
			quote("fs_ix_"+t.Name+"_"+c.Name), quote(t.Name), quote(c.Name))); err != nil {
			return fmt.Errorf("index %s.%s: %w", t.Name, c.Name, err)
		}
	}
	wantUnique := map[string]bool{}
	for _, u := range t.Unique {
		wantUnique["fs_ux_"+t.Name+"_"+strings.Join(u, "_")] = true
	}
	idx, err := st.d.TableIndexes(ctx, tx, t.Name)
	if err != nil {
		return fmt.Errorf("inspect indexes of %s: %w", t.Name, err)
	}
	for _, name := range idx {
		// A unique key the schema no longer declares stops being enforced.
		if strings.HasPrefix(name, "fs_ux_"+t.Name+"_") && (!wantUnique[name] || st.local) {
			if _, err := tx.ExecContext(ctx, "DROP INDEX "+quote(name)); err != nil {
				return fmt.Errorf("drop unique key %s: %w", name, err)
			}
		}
	}
	if st.local {
		return nil
	}
	for _, u := range t.Unique {
		cols := make([]string, len(u))
		for i, c := range u {
			cols[i] = quote(c)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (%s)",
			quote("fs_ux_"+t.Name+"_"+strings.Join(u, "_")), quote(t.Name), strings.Join(cols, ", "))); err != nil {
			return fmt.Errorf("unique key %s(%s): existing rows are not unique: %w", t.Name, strings.Join(u, ", "), err)
		}
	}
	return nil
}

// walkColumns returns the columns of t that are not foreign keys and that
// the Database Extract looks rows up by (see visibility.Walk): the columns
// of owner rules, and the mode column of a table in attachment modes.
func walkColumns(t *fieldsync.Table) []*fieldsync.Column {
	var out []*fieldsync.Column
	add := func(name string) {
		c := t.Column(name)
		if c == nil || c.References != "" || slices.Contains(out, c) {
			return
		}
		out = append(out, c)
	}
	if t.Private {
		return nil
	}
	for _, r := range t.Rules {
		if r.Kind == fieldsync.RuleOwner {
			add(r.Column)
		}
	}
	if t.Broadcasts() {
		add(fieldsync.ModeColumn)
	}
	return out
}

// inTx runs fn in a write transaction and commits it, or rolls back on error.
func (st *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := st.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // after a commit, nothing; after an error or a panic, the rollback
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// InTx runs fn in one write transaction of the server database; components
// use it to change data and their own state atomically.
func (st *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error { return st.inTx(ctx, fn) }

// Changed returns a channel closed at the next commit of the write path.
func (st *Store) Changed() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.changed
}

// NotifyChanged wakes everyone waiting on Changed. Apply calls it after
// each commit; callers of ApplyTx call it after committing their transaction.
func (st *Store) NotifyChanged() {
	st.mu.Lock()
	close(st.changed)
	st.changed = make(chan struct{})
	st.mu.Unlock()
}

// LockProcessor waits until this process may run the Transaction
// Processor: exactly one runs at a time against a database; a standby takes
// over when the active one stops or dies.
func (st *Store) LockProcessor(ctx context.Context) (release func(), err error) {
	return st.d.Lock(ctx, st.write, "transaction-processor")
}

// maxPrepared bounds the statements one transaction keeps prepared; texts
// past it (statements built from many column sets) run unprepared.
const maxPrepared = 256

// preparedTx runs statements inside one transaction, preparing each text
// once and running it again from the prepared statement: a merge batch
// runs the same few statements for every change it merges. The statements
// are closed when the transaction ends.
type preparedTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func newPreparedTx(tx *sql.Tx) *preparedTx {
	return &preparedTx{tx: tx, stmts: map[string]*sql.Stmt{}}
}

// stmt returns the prepared statement of text q, or nil past maxPrepared.
func (p *preparedTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := p.stmts[q]; ok {
		return s, nil
	}
	if len(p.stmts) >= maxPrepared {
		return nil, nil
	}
	s, err := p.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	p.stmts[q] = s
	return s, nil
}

func (p *preparedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return p.tx.ExecContext(ctx, q, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (p *preparedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := p.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return p.tx.QueryContext(ctx, q, args...)
	}
	return s.QueryContext(ctx, args...)
}

func (p *preparedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s, err := p.stmt(ctx, q)
	if err != nil || s == nil {
		return p.tx.QueryRowContext(ctx, q, args...) // the same error, in the row
	}
	return s.QueryRowContext(ctx, args...)
}
