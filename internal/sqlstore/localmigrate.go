package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// What a remote node's local database needs of the shared SQL when it
// migrates in place to a new version of the schema (package localdb does
// the tables; this is the local log and the store's own record of the
// schema).

// LocalLogMigration says what MigrateLocalLog did to the local log.
type LocalLogMigration struct {
	// Dropped counts, by table, the entries not yet packaged for upload
	// that were removed because the new schema has no such table.
	Dropped map[string]int
	// Cleared counts, by table, the entries already packaged into an upload
	// file whose values were cleared because the new schema has no such
	// table: they stay, so the upload's changes keep their numbers.
	Cleared map[string]int
	// Trimmed counts the entries that lost the values of dropped columns;
	// Emptied those of them removed, not packaged yet, because they were
	// updates of dropped columns only.
	Trimmed, Emptied int
}

// logEntry is a local log entry's raw values, as MigrateLocalLog reads
// them.
type logEntry struct {
	seq        int64
	op, table  string
	vals, prev sql.NullString
}

// MigrateLocalLog rewrites the local log for schema to, inside tx, so that
// every entry reads under it: the values (and previous values) of columns
// to lacks are left out (an update not packaged yet that changed only such
// columns is removed: nothing of it is left to upload); entries of tables to lacks are removed when they
// are not packaged for upload yet (Seq > packaged), and have their values
// cleared when they are (the upload file holds them as they were made). It
// also records to's columns and fingerprint as the store's. It is for a
// local store only, and runs before SetSchema(to, ...).
func (st *Store) MigrateLocalLog(ctx context.Context, tx *sql.Tx, to *fieldsync.Schema, packaged int64) (LocalLogMigration, error) {
	res := LocalLogMigration{Dropped: map[string]int{}, Cleared: map[string]int{}}
	if !st.local {
		return res, fmt.Errorf("migrate the local log: not a local database")
	}
	entries, err := st.affectedEntries(ctx, tx, to)
	if err != nil {
		return res, err
	}
	for _, e := range entries {
		t := to.Table(e.table)
		switch {
		case t == nil && e.seq > packaged:
			_, err = tx.ExecContext(ctx, "DELETE FROM fs_log WHERE seq = "+st.d.Placeholder(1), e.seq)
			res.Dropped[e.table]++
		case t == nil:
			_, err = tx.ExecContext(ctx, "UPDATE fs_log SET vals = NULL, prev = NULL WHERE seq = "+st.d.Placeholder(1), e.seq)
			res.Cleared[e.table]++
		default:
			var changed, emptied bool
			changed, emptied, err = st.trimEntry(ctx, tx, t, e, packaged)
			if changed {
				res.Trimmed++
			}
			if emptied {
				res.Emptied++
			}
		}
		if err != nil {
			return res, fmt.Errorf("migrate local log entry %d (%s): %w", e.seq, e.table, err)
		}
	}
	return res, st.recordLocalSchema(ctx, tx, to)
}

// affectedEntries reads the log entries of the tables to drops or drops
// columns of, as the schema in force names them.
func (st *Store) affectedEntries(ctx context.Context, tx *sql.Tx, to *fieldsync.Schema) ([]logEntry, error) {
	var tables []any
	for _, t := range st.Schema().Tables {
		nt := to.Table(t.Name)
		affected := nt == nil
		for _, c := range t.Columns {
			affected = affected || nt.Column(c.Name) == nil
		}
		if affected {
			tables = append(tables, t.Name)
		}
	}
	if len(tables) == 0 {
		return nil, nil
	}
	ph := make([]string, len(tables))
	for i := range tables {
		ph[i] = st.d.Placeholder(i + 1)
	}
	rows, err := tx.QueryContext(ctx, "SELECT seq, op, tbl, vals, prev FROM fs_log WHERE tbl IN ("+strings.Join(ph, ", ")+") ORDER BY seq", tables...)
	if err != nil {
		return nil, fmt.Errorf("read the local log: %w", err)
	}
	defer rows.Close()
	var out []logEntry
	for rows.Next() {
		var e logEntry
		if err := rows.Scan(&e.seq, &e.op, &e.table, &e.vals, &e.prev); err != nil {
			return nil, fmt.Errorf("read the local log: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// trimEntry leaves the values of columns t lacks out of a log entry, and
// reports whether it had any, and whether it removed the entry (an update
// not packaged yet left with no values).
func (st *Store) trimEntry(ctx context.Context, tx *sql.Tx, t *fieldsync.Table, e logEntry, packaged int64) (changed, emptied bool, err error) {
	vals, vChanged, err := trimValues(t, e.vals)
	if err != nil {
		return false, false, err
	}
	prev, pChanged, err := trimValues(t, e.prev)
	if err != nil || (!vChanged && !pChanged) {
		return false, false, err
	}
	if e.op == string(fieldsync.OpUpdate) && e.seq > packaged && vals.String == "{}" {
		_, err = tx.ExecContext(ctx, "DELETE FROM fs_log WHERE seq = "+st.d.Placeholder(1), e.seq)
		return true, true, err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_log SET vals = %s, prev = %s WHERE seq = %s",
		st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3)), vals, prev, e.seq)
	return true, false, err
}

// trimValues returns a logged row without the columns t lacks, as the log
// stores it, and whether it had any. The values themselves are kept as
// they were written.
func trimValues(t *fieldsync.Table, s sql.NullString) (sql.NullString, bool, error) {
	if !s.Valid {
		return s, false, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s.String), &raw); err != nil {
		return s, false, fmt.Errorf("decode row: %w", err)
	}
	changed := false
	for k := range raw {
		if t.Column(k) == nil {
			delete(raw, k)
			changed = true
		}
	}
	if !changed {
		return s, false, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return s, false, fmt.Errorf("encode row: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, true, nil
}

// recordLocalSchema records s's columns and fingerprint as those of the
// database, as syncSchema does at open: the columns s dropped are gone
// from a local database, so they are not kept.
func (st *Store) recordLocalSchema(ctx context.Context, tx *sql.Tx, s *fieldsync.Schema) error {
	cols := map[string]map[string]fieldsync.ColumnType{}
	for _, t := range s.Tables {
		cols[t.Name] = map[string]fieldsync.ColumnType{}
		for _, c := range t.Columns {
			cols[t.Name][c.Name] = c.Type
		}
	}
	raw, err := json.Marshal(cols)
	if err != nil {
		return err
	}
	if err := st.setMeta(ctx, tx, "schema_columns", string(raw)); err != nil {
		return fmt.Errorf("record the local schema: %w", err)
	}
	if err := st.setMeta(ctx, tx, "schema_fingerprint", s.Fingerprint()); err != nil {
		return fmt.Errorf("record the local schema: %w", err)
	}
	return nil
}

// CountLogAfter counts the log entries with Seq > after. A local log may
// have gaps (entries of a table a schema version dropped), so its pending
// changes are counted rather than told from their numbers.
func (st *Store) CountLogAfter(ctx context.Context, after int64) (int64, error) {
	var n int64
	if err := st.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM fs_log WHERE seq > "+st.d.Placeholder(1), after).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the local log: %w", err)
	}
	return n, nil
}
