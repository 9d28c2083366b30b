package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// BuildFile creates a fresh SQLite database file at path holding the
// schema's tables (as a remote node's local database has them: the id as
// primary key, foreign key columns indexed, no constraints between rows, so
// any visible subset of the server's rows fits), a fs_extract table with meta,
// and the rows fill inserts, all in one transaction. The file is fsynced
// before BuildFile returns. path must not exist.
func BuildFile(ctx context.Context, path string, s *fieldsync.Schema, meta map[string]string,
	fill func(insert func(table string, row fieldsync.Row) error) error) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("build %s: file exists", path)
	}
	// No journal while building: the file is not visible under its final
	// name until it is complete and synced.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	closed := false
	defer func() {
		if !closed {
			db.Close()
		}
	}()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "CREATE TABLE fs_extract (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	for k, v := range meta {
		if _, err := tx.ExecContext(ctx, "INSERT INTO fs_extract (key, value) VALUES (?1, ?2)", k, v); err != nil {
			return fmt.Errorf("build %s: %w", path, err)
		}
	}
	stmts := map[string]*sql.Stmt{}
	for _, t := range s.Tables {
		for _, q := range LocalDDL(t) {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("build %s: %s: %w", path, t.Name, err)
			}
		}
		cols := make([]string, len(t.Columns))
		ph := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = `"` + c.Name + `"`
			ph[i] = fmt.Sprintf("?%d", i+1)
		}
		st, err := tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES (%s)`, t.Name, strings.Join(cols, ", "), strings.Join(ph, ", ")))
		if err != nil {
			return fmt.Errorf("build %s: %w", path, err)
		}
		defer st.Close()
		stmts[t.Name] = st
	}
	args := make([]any, 0, 16)
	insert := func(table string, row fieldsync.Row) error {
		t := s.Table(table)
		st := stmts[table]
		if t == nil || st == nil {
			return fmt.Errorf("build %s: unknown table %q", path, table)
		}
		args = args[:0]
		for _, c := range t.Columns {
			args = append(args, row[c.Name])
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("build %s: insert into %s: %w", path, table, err)
		}
		return nil
	}
	if err := fill(insert); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	closed = true
	if err := db.Close(); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	return nil
}

// LocalDDL returns the statements that create a table in a node's local
// database.
func LocalDDL(t *fieldsync.Table) []string {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		defs[i] = `"` + c.Name + `" ` + Dialect{}.ColumnType(c.Type)
		if c.Name == "id" {
			defs[i] += " PRIMARY KEY"
		}
	}
	out := []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS "%s" (%s)`, t.Name, strings.Join(defs, ", "))}
	for _, c := range t.ForeignKeys() {
		out = append(out, fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "fs_ix_%s_%s" ON "%s" ("%s")`, t.Name, c.Name, t.Name, c.Name))
	}
	return out
}
