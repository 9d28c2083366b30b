package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// A node follows the server's schema versions in place. A schema-change
// marker in an inbox file (fieldsync.SchemaTable) carries the new
// version's text; applying it, the database migrates inside the applying
// transaction, and the transactions after the marker apply under the new
// version:
//
//   - tables the version adds are created as Build creates them (no
//     constraints between rows, foreign keys indexed), columns it adds are
//     added and, when they declare a default, set to it in every row held;
//   - tables and columns it drops are dropped (a dropped column's indexes
//     first);
//   - a column whose type changed is refused (the server refuses such a
//     change too): the apply fails and nothing of it stays;
//   - the local log keeps the node's pending changes, made to read under
//     the new version (see sqlstore.MigrateLocalLog): the values of dropped
//     columns are left out; the changes of a dropped table not yet packaged
//     for upload are dropped, with a log line, as the server would refuse
//     them; those already in an upload file stay in it, as made under the
//     version it names;
//   - the header's schema and version become the new version's.
//
// A marker of a version not newer than the database's is skipped (a file
// applied again after a crash). ReplaceData takes a newer extract's schema
// and version the same way.

// migration is one schema migration done in a transaction, to finish once
// the transaction committed.
type migration struct {
	header   Header
	from, to int64 // versions
	log      sqlstore.LocalLogMigration
}

// marker applies a schema-change marker met in inbox file number: it
// migrates the database to the version it names when that is newer than
// the database's. It reports the migration done, or nil.
func (db *DB) marker(ctx context.Context, tx *sql.Tx, number int64, t fieldsync.Txn) (*migration, error) {
	v, err := fieldsync.ParseSchemaMarker(t)
	if err != nil {
		return nil, fieldsync.Errorf(fieldsync.ErrDamagedFile, "inbox file %d, transaction %d: %v", number, t.Seq, err)
	}
	if v.YAML == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrDamagedFile,
			"inbox file %d, transaction %d: the schema marker of version %d carries no schema text (an upload's marker, not an outbox's)", number, t.Seq, v.Version)
	}
	if v.Version <= db.st.SchemaVersion() {
		return nil, nil // the database has it already
	}
	s, err := schema.Parse(v.Source, v.YAML)
	if err != nil {
		return nil, fmt.Errorf("inbox file %d, schema version %d: %w", number, v.Version, err)
	}
	m, err := db.migrateTx(ctx, tx, s, v.Version)
	if err != nil {
		return nil, fmt.Errorf("inbox file %d, migrate to schema version %d: %w", number, v.Version, err)
	}
	return &m, nil
}

// migrateTx makes the database's tables, local log and header those of
// schema to, version v, inside tx, and puts to in force: the caller puts
// the schema it began with back if tx does not commit (restoreSchema), and
// finishes the migration once it did (finish).
func (db *DB) migrateTx(ctx context.Context, tx *sql.Tx, to *fieldsync.Schema, v int64) (migration, error) {
	from := db.st.Schema()
	m := migration{from: db.st.SchemaVersion(), to: v}
	if err := checkTypes(from, to); err != nil {
		return m, err
	}
	for _, t := range from.Tables {
		if to.Table(t.Name) == nil {
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS "`+t.Name+`"`); err != nil {
				return m, fmt.Errorf("drop table %s: %w", t.Name, err)
			}
		}
	}
	for _, t := range to.Tables {
		if err := migrateTable(ctx, tx, t); err != nil {
			return m, err
		}
	}
	packaged, err := metaInt(ctx, db.st, tx, keyLogPackaged)
	if err != nil {
		return m, err
	}
	if m.log, err = db.st.MigrateLocalLog(ctx, tx, to, packaged); err != nil {
		return m, err
	}
	m.header = db.Header()
	m.header.SchemaSource, m.header.SchemaYAML, m.header.SchemaFingerprint, m.header.SchemaVersion = to.Source, string(to.YAML), to.Fingerprint(), v
	vals := m.header.values()
	for _, k := range []string{hdrSchemaName, hdrSchemaYAML, hdrFingerprint, hdrSchemaVer} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO fs_extract (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", k, vals[k]); err != nil {
			return m, fmt.Errorf("record the schema in the header: %w", err)
		}
	}
	db.st.SetSchema(to, v)
	return m, nil
}

// checkTypes refuses a schema that changes the type of a column the
// database holds.
func checkTypes(from, to *fieldsync.Schema) error {
	for _, t := range to.Tables {
		old := from.Table(t.Name)
		if old == nil {
			continue
		}
		for _, c := range t.Columns {
			if oc := old.Column(c.Name); oc != nil && oc.Type != c.Type {
				return fieldsync.Errorf(fieldsync.ErrSchemaMismatch,
					"column %s.%s is %s here and %s in the new schema: a column's type does not change (the data would be reinterpreted)", t.Name, c.Name, oc.Type, c.Type)
			}
		}
	}
	return nil
}

// migrateTable makes the table t of the new schema as a node's local
// database has it: created when new; else its dropped columns dropped, its
// new ones added (set to their default in every row), and its foreign
// keys, and only those, indexed.
func migrateTable(ctx context.Context, tx *sql.Tx, t *fieldsync.Table) error {
	have, err := sqlite.Dialect{}.TableColumns(ctx, tx, t.Name)
	if err != nil {
		return fmt.Errorf("inspect table %s: %w", t.Name, err)
	}
	ddl := TableDDL(t)
	if len(have) == 0 {
		for _, q := range ddl {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create table %s: %w", t.Name, err)
			}
		}
		return nil
	}
	for _, col := range slices.Sorted(maps.Keys(have)) {
		if t.Column(col) == nil {
			if err := dropColumn(ctx, tx, t.Name, col); err != nil {
				return err
			}
		}
	}
	for _, c := range t.Columns {
		if have[c.Name] {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE "%s" ADD COLUMN "%s" %s`, t.Name, c.Name, sqlite.Dialect{}.ColumnType(c.Type))); err != nil {
			return fmt.Errorf("add column %s.%s: %w", t.Name, c.Name, err)
		}
		if c.Default != nil {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE "%s" SET "%s" = ?1`, t.Name, c.Name), c.Default); err != nil {
				return fmt.Errorf("set column %s.%s to its default: %w", t.Name, c.Name, err)
			}
		}
	}
	return migrateIndexes(ctx, tx, t, ddl[1:])
}

// migrateIndexes drops the foreign key indexes of t's columns that are no
// longer foreign keys and creates those of its foreign keys (create, the
// statements TableDDL makes).
func migrateIndexes(ctx context.Context, tx *sql.Tx, t *fieldsync.Table, create []string) error {
	want := map[string]bool{}
	for _, c := range t.ForeignKeys() {
		want["fs_ix_"+t.Name+"_"+c.Name] = true
	}
	idx, err := sqlite.Dialect{}.TableIndexes(ctx, tx, t.Name)
	if err != nil {
		return fmt.Errorf("inspect indexes of %s: %w", t.Name, err)
	}
	for _, name := range idx {
		if strings.HasPrefix(name, "fs_ix_") && !want[name] {
			if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
				return fmt.Errorf("drop index %s: %w", name, err)
			}
		}
	}
	for _, q := range create {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("index %s: %w", t.Name, err)
		}
	}
	return nil
}

// dropColumn drops a column of a local table, after the indexes on it
// (SQLite drops no indexed column).
func dropColumn(ctx context.Context, tx *sql.Tx, table, col string) error {
	idx, err := sqlstore.QueryStrings(ctx, tx,
		"SELECT DISTINCT m.name FROM sqlite_master m, pragma_index_info(m.name) i WHERE m.type = 'index' AND m.tbl_name = ?1 AND i.name = ?2 AND m.sql IS NOT NULL",
		table, col)
	if err != nil {
		return fmt.Errorf("inspect indexes of %s.%s: %w", table, col, err)
	}
	for _, name := range idx {
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+name+`"`); err != nil {
			return fmt.Errorf("drop index %s of %s.%s: %w", name, table, col, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`ALTER TABLE "%s" DROP COLUMN "%s"`, table, col)); err != nil {
		return fmt.Errorf("drop column %s.%s: %w", table, col, err)
	}
	return nil
}

// restoreSchema puts schema s, version v, back in force if another is:
// a transaction that migrated the database did not commit.
func (db *DB) restoreSchema(s *fieldsync.Schema, v int64) {
	if db.st.Schema() != s || db.st.SchemaVersion() != v {
		db.st.SetSchema(s, v)
	}
}

// finish records a committed migration's header and logs what it did.
func (db *DB) finish(m migration) {
	db.hmu.Lock()
	db.header = m.header
	db.hmu.Unlock()
	db.log.Info("local database migrated to a new schema version", "from", m.from, "to", m.to, "schema", m.header.SchemaSource)
	for _, table := range slices.Sorted(maps.Keys(m.log.Dropped)) {
		db.log.Warn("pending changes of a table the new schema version dropped are left out: the server no longer has the table",
			"table", table, "changes", m.log.Dropped[table], "version", m.to)
	}
	for _, table := range slices.Sorted(maps.Keys(m.log.Cleared)) {
		db.log.Warn("changes of a table the new schema version dropped stay in the upload files they were packaged into, as made under the earlier version",
			"table", table, "changes", m.log.Cleared[table], "version", m.to)
	}
	if m.log.Trimmed > 0 {
		db.log.Info("pending changes lost the values of columns the new schema version dropped",
			"changes", m.log.Trimmed, "left_with_nothing", m.log.Emptied, "version", m.to)
	}
}
