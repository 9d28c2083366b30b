package localdb

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/schema"
	"github.com/fieldsync/fieldsync/sqlite"
)

// Header is what the Database Extract records in a node's file about it.
type Header struct {
	Node       string
	EmployeeID string
	// ExtractSeq is the server sequence number the extract was taken at:
	// the file holds every server transaction up to it.
	ExtractSeq int64
	// The schema the file holds: where it came from, its YAML text and its
	// fingerprint; the extract's at first, then the one each schema-change
	// marker the node applies migrates the file to.
	SchemaSource      string
	SchemaYAML        string
	SchemaFingerprint string
	// SchemaVersion is the server's number of that schema's version (0: not
	// known, an extract of a server or build that did not number them).
	SchemaVersion int64
	ExtractedAt   time.Time
}

// Schema parses the schema the header carries.
func (h Header) Schema() (*fieldsync.Schema, error) {
	s, err := schema.Parse(h.SchemaSource, []byte(h.SchemaYAML))
	if err != nil {
		return nil, fmt.Errorf("the extract's schema: %w", err)
	}
	return s, nil
}

// Keys of the fs_extract table, where the header is kept.
const (
	hdrNode        = "node"
	hdrEmployee    = "employee_id"
	hdrExtractSeq  = "extract_seq"
	hdrFingerprint = "schema_fingerprint"
	hdrExtractedAt = "extracted_at"
	hdrSchemaYAML  = "schema_yaml"
	hdrSchemaName  = "schema_source"
	hdrSchemaVer   = "schema_version"
)

func (h Header) values() map[string]string {
	return map[string]string{
		hdrNode:        h.Node,
		hdrEmployee:    h.EmployeeID,
		hdrExtractSeq:  strconv.FormatInt(h.ExtractSeq, 10),
		hdrFingerprint: h.SchemaFingerprint,
		hdrExtractedAt: h.ExtractedAt.UTC().Format(time.RFC3339Nano),
		hdrSchemaYAML:  h.SchemaYAML,
		hdrSchemaName:  h.SchemaSource,
		hdrSchemaVer:   strconv.FormatInt(h.SchemaVersion, 10),
	}
}

// ReadHeader reads the header of a node's file, such as a downloaded
// extract, without changing the file.
func ReadHeader(ctx context.Context, path string) (Header, error) {
	if _, err := os.Stat(path); err != nil {
		return Header{}, fmt.Errorf("local database: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return Header{}, err
	}
	defer db.Close()
	return readHeader(ctx, db)
}

func readHeader(ctx context.Context, db *sql.DB) (Header, error) {
	rows, err := db.QueryContext(ctx, "SELECT key, value FROM fs_extract")
	if err != nil {
		return Header{}, fmt.Errorf("the extract's header is not readable: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return Header{}, err
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		return Header{}, err
	}
	h := Header{Node: m[hdrNode], EmployeeID: m[hdrEmployee], SchemaSource: m[hdrSchemaName],
		SchemaYAML: m[hdrSchemaYAML], SchemaFingerprint: m[hdrFingerprint]}
	if h.ExtractSeq, err = strconv.ParseInt(m[hdrExtractSeq], 10, 64); err != nil {
		return Header{}, fmt.Errorf("the extract's sequence number %q: %w", m[hdrExtractSeq], err)
	}
	if v := m[hdrSchemaVer]; v != "" {
		if h.SchemaVersion, err = strconv.ParseInt(v, 10, 64); err != nil {
			return Header{}, fmt.Errorf("the extract's schema version %q: %w", v, err)
		}
	}
	if v := m[hdrExtractedAt]; v != "" {
		if h.ExtractedAt, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Header{}, fmt.Errorf("the extract's time %q: %w", v, err)
		}
	}
	return h, nil
}

// Build creates a node's file at path for schema s: the schema's tables as
// a node's local database has them (see TableDDL), the header h (its schema
// source, text and fingerprint are taken from s; h.SchemaVersion says which
// version of the server's schema s is) and the rows fill inserts, all in one
// transaction. The file is fsynced before Build returns; the caller renames
// it into place. path must not exist.
func Build(ctx context.Context, path string, s *fieldsync.Schema, h Header,
	fill func(insert func(table string, row fieldsync.Row) error) error) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("build %s: file exists", path)
	}
	h.SchemaSource, h.SchemaYAML, h.SchemaFingerprint = s.Source, string(s.YAML), s.Fingerprint()
	// No journal while building: the file is not visible under its final
	// name until it is complete and synced.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_txlock=immediate")
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	defer func() {
		if db != nil {
			db.Close()
		}
	}()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	defer tx.Rollback()
	b := &builder{ctx: ctx, tx: tx, s: s, tabs: map[string]*buildTable{}}
	defer b.close()
	if err := b.create(h); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	if err := fill(b.insert); err != nil {
		return err
	}
	if err := b.finish(); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	b.close()
	err, db = db.Close(), nil
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	return syncFile(path)
}

func syncFile(path string) error {
	if err := durable.SyncFile(path); err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	return nil
}

// builder writes a new file's tables, header and rows in one transaction:
// the rows of a table go in batchRows at a time, and the indexes are made
// once they are all in.
type builder struct {
	// ctx is the caller's, checked before every batch; the statements run
	// without its cancellation (the driver watches a cancellable context
	// with a goroutine per statement).
	ctx  context.Context
	tx   *sql.Tx
	s    *fieldsync.Schema
	tabs map[string]*buildTable
}

// buildTable is one table's inserts: a statement for one row, one for a
// whole batch, and the values of the rows waiting for the next batch.
type buildTable struct {
	t         *fieldsync.Table
	one, many *sql.Stmt
	batch     int // rows per batch
	args      []any
	rows      int
}

// batchValues bounds the values of one batch insert (SQLite's historical
// limit of statement parameters).
const batchValues = 999

func (b *builder) create(h Header) error {
	ctx := context.WithoutCancel(b.ctx)
	if _, err := b.tx.ExecContext(ctx, "CREATE TABLE fs_extract (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); err != nil {
		return err
	}
	for k, v := range h.values() {
		if _, err := b.tx.ExecContext(ctx, "INSERT INTO fs_extract (key, value) VALUES (?1, ?2)", k, v); err != nil {
			return err
		}
	}
	for _, t := range b.s.Tables {
		if _, err := b.tx.ExecContext(ctx, TableDDL(t)[0]); err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		bt := &buildTable{t: t, batch: max(1, min(64, batchValues/len(t.Columns)))}
		cols := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			cols[i] = `"` + c.Name + `"`
		}
		values := func(rows int) string {
			var v []string
			for r := 0; r < rows; r++ {
				// Plain ? placeholders: the driver looks numbered ones up by
				// name, one list walk per value bound.
				v = append(v, "("+strings.Repeat("?, ", len(t.Columns)-1)+"?)")
			}
			return fmt.Sprintf(`INSERT INTO "%s" (%s) VALUES %s`, t.Name, strings.Join(cols, ", "), strings.Join(v, ", "))
		}
		var err error
		if bt.one, err = b.tx.PrepareContext(ctx, values(1)); err != nil {
			return err
		}
		b.tabs[t.Name] = bt
		if bt.batch > 1 {
			if bt.many, err = b.tx.PrepareContext(ctx, values(bt.batch)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *builder) insert(table string, row fieldsync.Row) error {
	bt := b.tabs[table]
	if bt == nil {
		return fmt.Errorf("build: unknown table %q", table)
	}
	for _, c := range bt.t.Columns {
		bt.args = append(bt.args, row[c.Name])
	}
	bt.rows++
	if bt.rows == bt.batch {
		return b.flush(bt)
	}
	return nil
}

// flush inserts the rows waiting in bt.
func (b *builder) flush(bt *buildTable) error {
	if bt.rows == 0 {
		return nil
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	ctx := context.WithoutCancel(b.ctx)
	var err error
	if bt.rows == bt.batch && bt.many != nil {
		_, err = bt.many.ExecContext(ctx, bt.args...)
	} else {
		n := len(bt.t.Columns)
		for r := 0; r < bt.rows && err == nil; r++ {
			_, err = bt.one.ExecContext(ctx, bt.args[r*n:(r+1)*n]...)
		}
	}
	clear(bt.args)
	bt.args, bt.rows = bt.args[:0], 0
	if err != nil {
		return fmt.Errorf("build: insert into %s: %w", bt.t.Name, err)
	}
	return nil
}

// finish inserts the rows still waiting and makes the indexes.
func (b *builder) finish() error {
	for _, t := range b.s.Tables {
		if err := b.flush(b.tabs[t.Name]); err != nil {
			return err
		}
	}
	ctx := context.WithoutCancel(b.ctx)
	for _, t := range b.s.Tables {
		for _, q := range TableDDL(t)[1:] {
			if _, err := b.tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", t.Name, err)
			}
		}
	}
	return b.ctx.Err()
}

func (b *builder) close() {
	for _, bt := range b.tabs {
		for _, st := range []*sql.Stmt{bt.one, bt.many} {
			if st != nil {
				st.Close()
			}
		}
	}
	clear(b.tabs)
}

// TableDDL returns the statements that create a table in a node's local
// database: the id as primary key, foreign key columns indexed, no
// constraints between rows.
func TableDDL(t *fieldsync.Table) []string {
	defs := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		defs[i] = `"` + c.Name + `" ` + sqlite.Dialect{}.ColumnType(c.Type)
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
