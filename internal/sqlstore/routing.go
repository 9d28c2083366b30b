package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync"
)

// LastLogSeq returns the sequence number of the last transaction logged.
func (st *Store) LastLogSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := st.read.QueryRowContext(ctx, "SELECT value FROM fs_seq WHERE name = 'log'").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the last transaction number: %w", err)
	}
	return seq, nil
}

// RouterPositions returns the last sequence number routed by each router
// partition that has routed anything.
func (st *Store) RouterPositions(ctx context.Context) (map[int]int64, error) {
	return st.routerPositions(ctx, st.read)
}

func (st *Store) routerPositions(ctx context.Context, q Querier) (map[int]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT part, position FROM fs_router")
	if err != nil {
		return nil, fmt.Errorf("read router positions: %w", err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var part int
		var pos int64
		if err := rows.Scan(&part, &pos); err != nil {
			return nil, err
		}
		out[part] = pos
	}
	return out, rows.Err()
}

// SaveRouting records a partition's position and its nodes' outbox
// numbering in one transaction.
func (st *Store) SaveRouting(ctx context.Context, partition int, pos int64, outboxNext map[string]int64) error {
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO fs_router (part, position) VALUES (%s, %s) ON CONFLICT (part) DO UPDATE SET position = excluded.position",
			st.d.Placeholder(1), st.d.Placeholder(2)), partition, pos)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(outboxNext))
		for n := range outboxNext {
			names = append(names, n)
		}
		sort.Strings(names) // a stable lock order
		q := fmt.Sprintf("UPDATE fs_node SET outbox_next = %s WHERE name = %s", st.d.Placeholder(1), st.d.Placeholder(2))
		for _, n := range names {
			if _, err := tx.ExecContext(ctx, q, outboxNext[n], n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save router position: %w", err)
	}
	return nil
}

// snapshot is a read-only transaction seen as a fieldsync.Snapshot.
type snapshot struct {
	st      *Store
	tx      *sql.Tx
	lastSeq int64
	trimmed int64
	lookups map[lookupKey]*sql.Stmt // Lookup's statements, prepared on tx
	args    []any
}

// lookupKey names one of Lookup's statements: the rows of table whose
// column is one of n values.
type lookupKey struct {
	table, column string
	n             int
}

// lookupBatch is the most values one of Lookup's statements takes; a
// shorter list takes the next power of two, padded with its last value,
// so that a table and column have at most a few statements.
const lookupBatch = 512

func (s *snapshot) LastSeq() int64 { return s.lastSeq }
func (s *snapshot) Trimmed() int64 { return s.trimmed }

func (s *snapshot) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	t, err := s.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	return s.st.getRow(ctx, s.tx, t, id)
}

func (s *snapshot) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return s.st.list(ctx, s.tx, table, q)
}

func (s *snapshot) ReadLog(ctx context.Context, after int64, limit int) ([]fieldsync.Txn, error) {
	return s.st.readLog(ctx, s.tx, after, limit)
}

func (s *snapshot) Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error {
	t, err := s.st.Schema().LookupTable(table)
	if err != nil {
		return err
	}
	return s.scan(ctx, t, s.st.stmts().colList[t.Name], fn)
}

func (s *snapshot) ScanAs(ctx context.Context, t *fieldsync.Table, fn func(fieldsync.Row) error) error {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quote(c.Name)
	}
	return s.scan(ctx, t, strings.Join(cols, ", "), fn)
}

// scan calls fn for every row of t, reading the columns cols names (t's).
func (s *snapshot) scan(ctx context.Context, t *fieldsync.Table, cols string, fn func(fieldsync.Row) error) error {
	rows, err := s.tx.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY id", cols, quote(t.Name)))
	if err != nil {
		return fmt.Errorf("scan %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(t, rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Lookup calls fn for every row of table whose column holds one of
// values, lookupBatch values a query.
func (s *snapshot) Lookup(ctx context.Context, table, column string, values []string, fn func(fieldsync.Row) error) error {
	t, err := s.st.Schema().LookupTable(table)
	if err != nil {
		return err
	}
	if t.Column(column) == nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "table %s has no column %q", t.Name, column)
	}
	for len(values) > 0 {
		n := lookupBatch
		for n/2 >= len(values) {
			n /= 2
		}
		batch := values[:min(n, len(values))]
		values = values[len(batch):]
		stmt, err := s.lookupStmt(ctx, t, column, n)
		if err != nil {
			return err
		}
		s.args = s.args[:0]
		for i := 0; i < n; i++ {
			s.args = append(s.args, batch[min(i, len(batch)-1)])
		}
		if err := s.lookup(ctx, t, stmt, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *snapshot) lookup(ctx context.Context, t *fieldsync.Table, stmt *sql.Stmt, fn func(fieldsync.Row) error) error {
	rows, err := stmt.QueryContext(ctx, s.args...)
	if err != nil {
		return fmt.Errorf("look up %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(t, rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up %s: %w", t.Name, err)
	}
	return nil
}

// lookupStmt returns the statement that reads the rows of t whose column
// is one of n values, prepared once per snapshot.
func (s *snapshot) lookupStmt(ctx context.Context, t *fieldsync.Table, column string, n int) (*sql.Stmt, error) {
	k := lookupKey{t.Name, column, n}
	if stmt := s.lookups[k]; stmt != nil {
		return stmt, nil
	}
	ph := make([]string, n)
	for i := range ph {
		ph[i] = s.st.d.Placeholder(i + 1)
	}
	stmt, err := s.tx.PrepareContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IN (%s)",
		s.st.stmts().colList[t.Name], quote(t.Name), quote(column), strings.Join(ph, ", ")))
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", t.Name, err)
	}
	if s.lookups == nil {
		s.lookups = map[lookupKey]*sql.Stmt{}
	}
	s.lookups[k] = stmt
	return stmt, nil
}

// Snapshot runs fn on a consistent, read-only view of the database.
func (st *Store) Snapshot(ctx context.Context, fn func(fieldsync.Snapshot) error) error {
	tx, err := st.read.BeginTx(ctx, st.d.SnapshotOptions())
	if err != nil {
		return fmt.Errorf("begin snapshot: %w", err)
	}
	defer tx.Rollback()
	s := &snapshot{st: st, tx: tx}
	ls, err := st.logState(ctx, tx) // the first read fixes the snapshot
	if err != nil {
		return err
	}
	s.lastSeq, s.trimmed = ls.LastSeq, ls.Trimmed
	return fn(s)
}

// Backlog reads the log's state, the router positions and the count of
// uploads waiting, in one read-only transaction.
func (st *Store) Backlog(ctx context.Context) (fieldsync.Backlog, error) {
	tx, err := st.read.BeginTx(ctx, st.d.SnapshotOptions())
	if err != nil {
		return fieldsync.Backlog{}, fmt.Errorf("begin backlog: %w", err)
	}
	defer tx.Rollback()
	var b fieldsync.Backlog
	if b.Log, err = st.logState(ctx, tx); err != nil {
		return b, err
	}
	if b.Routers, err = st.routerPositions(ctx, tx); err != nil {
		return b, err
	}
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM fs_inbox").Scan(&b.Uploads); err != nil {
		return b, fmt.Errorf("count waiting uploads: %w", err)
	}
	return b, nil
}

// StartExtract records that a node's extract is taken at the current last
// sequence number S and runs fn on a snapshot of exactly that state. While
// the record is written no other write can commit, so the snapshot holds
// every transaction up to S and none after; the router, which rereads the
// nodes when their version changes, routes the node only transactions after S.
func (st *Store) StartExtract(ctx context.Context, node string, fn func(fieldsync.Snapshot) error) (int64, error) {
	wtx, err := st.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin extract: %w", err)
	}
	defer wtx.Rollback()
	seq, err := st.lockLogSeq(ctx, wtx)
	if err != nil {
		return 0, fmt.Errorf("begin extract: %w", err)
	}
	nr, _, err := st.nodeRouting(ctx, wtx, node)
	if err != nil {
		return 0, err
	}
	if !nr.Active {
		return 0, fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", node)
	}
	rtx, err := st.read.BeginTx(ctx, st.d.SnapshotOptions())
	if err != nil {
		return 0, fmt.Errorf("begin extract snapshot: %w", err)
	}
	defer rtx.Rollback()
	s := &snapshot{st: st, tx: rtx}
	ls, err := st.logState(ctx, rtx)
	if err != nil {
		return 0, err
	}
	if ls.LastSeq != seq {
		return 0, fmt.Errorf("begin extract: snapshot at %d, log at %d", ls.LastSeq, seq)
	}
	s.lastSeq, s.trimmed = ls.LastSeq, ls.Trimmed
	if nr.ExtractSeq == fieldsync.NoExtract {
		// A new node: the router starts routing it what follows seq now, so
		// that the outbox continues the extract being taken. A node with an
		// extract keeps it (and is routed from it) until ExtractTaken.
		_, err = wtx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET extract_seq = %s WHERE name = %s",
			st.d.Placeholder(1), st.d.Placeholder(2)), seq, node)
		if err != nil {
			return 0, fmt.Errorf("record extract of %s: %w", node, err)
		}
		if err := st.bumpNodes(ctx, wtx); err != nil {
			return 0, err
		}
	}
	if err := wtx.Commit(); err != nil {
		return 0, fmt.Errorf("record extract of %s: %w", node, err)
	}
	if err := fn(s); err != nil {
		return seq, err
	}
	return seq, nil
}

// decodeFlat decodes a logged row, a JSON object whose values are strings,
// numbers (as json.Number), booleans or null, the way a json.Decoder with
// UseNumber does, without its allocations: the processor reads every log
// entry through it. It reports false for anything else, and for what it
// leaves to encoding/json (escapes, invalid UTF-8, nested values), which
// the caller decodes then.
func decodeFlat(s string) (map[string]any, bool) {
	p := flatParser{s: s}
	p.space()
	if !p.byte('{') {
		return nil, false
	}
	out := make(map[string]any, 8)
	p.space()
	if p.byte('}') {
		return out, p.end()
	}
	for {
		p.space()
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.byte(':') {
			return nil, false
		}
		p.space()
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		out[k] = v
		p.space()
		if p.byte('}') {
			return out, p.end()
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

type flatParser struct {
	s string
	i int
}

func (p *flatParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *flatParser) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *flatParser) end() bool { p.space(); return p.i == len(p.s) }

// str reads a string with no escapes, of valid UTF-8 and no control
// characters.
func (p *flatParser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		}
		p.i++
	}
	return "", false
}

func (p *flatParser) value() (any, bool) {
	if p.i >= len(p.s) {
		return nil, false
	}
	switch c := p.s[p.i]; {
	case c == '"':
		return p.str()
	case c == 'n' && strings.HasPrefix(p.s[p.i:], "null"):
		p.i += 4
		return nil, true
	case c == 't' && strings.HasPrefix(p.s[p.i:], "true"):
		p.i += 4
		return true, true
	case c == 'f' && strings.HasPrefix(p.s[p.i:], "false"):
		p.i += 5
		return false, true
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, false
}

// number reads a number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *flatParser) number() (any, bool) {
	start := p.i
	p.byte('-')
	if !p.byte('0') && !p.digits() {
		return nil, false
	}
	if p.byte('.') && !p.digits() {
		return nil, false
	}
	if p.byte('e') || p.byte('E') {
		if !p.byte('+') {
			p.byte('-')
		}
		if !p.digits() {
			return nil, false
		}
	}
	return json.Number(p.s[start:p.i]), true
}

func (p *flatParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
