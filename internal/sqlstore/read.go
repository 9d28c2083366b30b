package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Paging limits for List.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Get returns one row.
func (st *Store) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	t, err := st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	return st.getRow(ctx, st.read, t, id)
}

func (st *Store) getRow(ctx context.Context, q Querier, t *fieldsync.Table, id string) (fieldsync.Row, error) {
	if !fieldsync.ValidID(id) { // no such row exists; the database need not see the text
		return nil, fieldsync.Errorf(fieldsync.ErrNotFound, "%s: no row with id %q", t.Name, id)
	}
	rows, err := q.QueryContext(ctx, st.stmts().selectRow[t.Name], id)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t.Name, id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read %s %s: %w", t.Name, id, err)
		}
		return nil, fieldsync.Errorf(fieldsync.ErrNotFound, "%s: no row with id %q", t.Name, id)
	}
	return scanRow(t, rows)
}

// getRows returns the rows of t with the given ids, by id, in one query;
// ids of no row are left out.
func (st *Store) getRows(ctx context.Context, q Querier, t *fieldsync.Table, ids []string) (map[string]fieldsync.Row, error) {
	out := make(map[string]fieldsync.Row, len(ids))
	var args []any
	var ph []string
	for _, id := range ids {
		if fieldsync.ValidID(id) { // no such row exists; the database need not see the text
			args = append(args, id)
			ph = append(ph, st.d.Placeholder(len(args)))
		}
	}
	if len(args) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE id IN (%s)", st.stmts().colList[t.Name], quote(t.Name), strings.Join(ph, ", ")), args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRow(t, rows)
		if err != nil {
			return nil, err
		}
		out[r.ID()] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	return out, nil
}

// scanRow reads the current row of rows (all of t's columns, in order) into
// canonical values.
func scanRow(t *fieldsync.Table, rows *sql.Rows) (fieldsync.Row, error) {
	raw := make([]any, len(t.Columns))
	ptrs := make([]any, len(t.Columns))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	row := make(fieldsync.Row, len(t.Columns))
	for i, c := range t.Columns {
		v, err := fromSQL(c, raw[i])
		if err != nil {
			return nil, fmt.Errorf("read %s.%s: %w", t.Name, c.Name, err)
		}
		row[c.Name] = v
	}
	return row, nil
}

// fromSQL converts what the driver returns into the column's canonical value.
func fromSQL(c *fieldsync.Column, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch c.Type {
	case fieldsync.TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case fieldsync.TypeInteger:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		}
	case fieldsync.TypeReal:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	default:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case time.Time:
			return fieldsync.FormatTimestamp(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected stored value %T for a %s column", v, c.Type)
}

// List returns rows matching q's equality filters, ordered by id, one page
// at a time (keyset paging: stable while rows are added or removed).
func (st *Store) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return st.list(ctx, st.read, table, q)
}

func (st *Store) list(ctx context.Context, db Querier, table string, q fieldsync.Query) (fieldsync.Page, error) {
	t, err := st.Schema().LookupTable(table)
	if err != nil {
		return fieldsync.Page{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if limit > MaxLimit {
		return fieldsync.Page{}, fieldsync.Errorf(fieldsync.ErrInvalid, "limit %d is above the maximum of %d", limit, MaxLimit)
	}
	var conds []string
	var args []any
	for _, c := range t.Columns { // schema order: deterministic statement text
		v, ok := q.Where[c.Name]
		if !ok {
			continue
		}
		if v == nil {
			conds = append(conds, quote(c.Name)+" IS NULL")
			continue
		}
		cv, err := c.Coerce(v)
		if err != nil {
			return fieldsync.Page{}, fieldsync.Errorf(fieldsync.ErrInvalid, "%s: filter: %v", t.Name, err)
		}
		args = append(args, cv)
		conds = append(conds, quote(c.Name)+" = "+st.d.Placeholder(len(args)))
	}
	for k := range q.Where {
		if t.Column(k) == nil {
			return fieldsync.Page{}, fieldsync.Errorf(fieldsync.ErrInvalid, "table %s has no column %q", t.Name, k)
		}
	}
	if q.After != "" {
		if !fieldsync.ValidID(q.After) {
			return fieldsync.Page{}, fieldsync.Errorf(fieldsync.ErrInvalid, "%s: after %q is not a row id", t.Name, q.After)
		}
		args = append(args, q.After)
		conds = append(conds, "id > "+st.d.Placeholder(len(args)))
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, limit+1)
	query := fmt.Sprintf("SELECT %s FROM %s%s ORDER BY id LIMIT %s", st.stmts().colList[t.Name], quote(t.Name), where, st.d.Placeholder(len(args)))
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fieldsync.Page{}, fmt.Errorf("list %s: %w", t.Name, err)
	}
	defer rows.Close()
	page := fieldsync.Page{Rows: []fieldsync.Row{}}
	for rows.Next() {
		r, err := scanRow(t, rows)
		if err != nil {
			return fieldsync.Page{}, err
		}
		page.Rows = append(page.Rows, r)
	}
	if err := rows.Err(); err != nil {
		return fieldsync.Page{}, fmt.Errorf("list %s: %w", t.Name, err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		page.Next = page.Rows[limit-1].ID()
	}
	return page, nil
}

// ReadLog returns up to limit committed transactions with Seq > after, in
// sequence order.
func (st *Store) ReadLog(ctx context.Context, after int64, limit int) ([]fieldsync.Txn, error) {
	return st.readLog(ctx, st.read, after, limit)
}

func (st *Store) readLog(ctx context.Context, db Querier, after int64, limit int) ([]fieldsync.Txn, error) {
	rows, err := db.QueryContext(ctx, fmt.Sprintf(
		"SELECT seq, op, tbl, row_id, vals, prev, origin, at FROM fs_log WHERE seq > %s ORDER BY seq LIMIT %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), after, limit)
	if err != nil {
		return nil, fmt.Errorf("read transaction log: %w", err)
	}
	defer rows.Close()
	var out []fieldsync.Txn
	for rows.Next() {
		var t fieldsync.Txn
		var op string
		var vals, prev sql.NullString
		var at int64
		if err := rows.Scan(&t.Seq, &op, &t.Table, &t.RowID, &vals, &prev, &t.Origin, &at); err != nil {
			return nil, fmt.Errorf("read transaction log: %w", err)
		}
		t.Op = fieldsync.Op(op)
		t.Time = time.Unix(0, at).UTC()
		if t.Values, err = st.decodeLogged(ctx, t.Seq, t.Table, vals); err != nil {
			return nil, fmt.Errorf("transaction log entry %d: %w", t.Seq, err)
		}
		if t.Prev, err = st.decodeLogged(ctx, t.Seq, t.Table, prev); err != nil {
			return nil, fmt.Errorf("transaction log entry %d: %w", t.Seq, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// decodeLogged reads a logged row back into canonical values through the
// schema (JSON does not tell an integer from a real): the schema in force,
// or, for an entry it cannot read (a table or column dropped since), the
// version in force when the entry was logged.
func (st *Store) decodeLogged(ctx context.Context, seq int64, table string, s sql.NullString) (fieldsync.Row, error) {
	if !s.Valid {
		return nil, nil
	}
	raw, ok := decodeFlat(s.String)
	if !ok {
		dec := json.NewDecoder(bytes.NewReader([]byte(s.String)))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("decode row: %w", err)
		}
	}
	if table == fieldsync.SchemaTable {
		return decodeMarker(raw)
	}
	row, err := decodeRow(st.Schema(), table, raw)
	if err != nil && !st.local {
		if then, _, verr := st.SchemaAtSeq(ctx, seq-1); verr == nil && then != st.Schema() {
			return decodeRow(then, table, raw)
		}
	}
	return row, err
}

// decodeRow converts a decoded JSON row to canonical values through
// schema sch.
func decodeRow(sch *fieldsync.Schema, table string, raw map[string]any) (fieldsync.Row, error) {
	t := sch.Table(table)
	row := make(fieldsync.Row, len(raw))
	for k, v := range raw {
		var c *fieldsync.Column
		if t != nil {
			c = t.Column(k)
		}
		if c == nil {
			return nil, fmt.Errorf("column %s.%s is not in the schema", table, k)
		}
		if v == nil {
			row[k] = nil // previous values may be null even for required columns
			continue
		}
		cv, err := c.Coerce(v)
		if err != nil {
			return nil, err
		}
		row[k] = cv
	}
	return row, nil
}

// TrimLog removes the transactions with Seq <= upTo and records upTo as
// trimmed, in one transaction. Trimming backwards changes nothing.
func (st *Store) TrimLog(ctx context.Context, upTo int64) error {
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		if err := st.keepHistory(ctx, tx, upTo); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM fs_log WHERE seq <= "+st.d.Placeholder(1), upTo); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_seq SET value = %s WHERE name = 'trimmed' AND value < %s",
			st.d.Placeholder(1), st.d.Placeholder(2)), upTo, upTo)
		return err
	})
	if err != nil {
		return fmt.Errorf("trim transaction log: %w", err)
	}
	return nil
}

// LogState summarizes the Transaction Log.
func (st *Store) LogState(ctx context.Context) (fieldsync.LogState, error) {
	return st.logState(ctx, st.read)
}

func (st *Store) logState(ctx context.Context, db Querier) (fieldsync.LogState, error) {
	var s fieldsync.LogState
	err := db.QueryRowContext(ctx,
		"SELECT (SELECT COUNT(*) FROM fs_log), (SELECT value FROM fs_seq WHERE name = 'log'), (SELECT value FROM fs_seq WHERE name = 'trimmed')").Scan(&s.Pending, &s.LastSeq, &s.Trimmed)
	if err != nil {
		return s, fmt.Errorf("read transaction log state: %w", err)
	}
	return s, nil
}
