package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Apply is the one write path. In a single database transaction it checks
// every change against the schema, applies it (with the cascades its
// foreign keys declare), and appends one transaction per changed row to the
// Transaction Log under gap-free sequence numbers. Either every change is
// applied and logged, or none is.
func (st *Store) Apply(ctx context.Context, origin string, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	return st.applyGrouped(ctx, origin, changes) // group.go: concurrent writes share a commit
}

// ApplyTx is Apply inside a transaction the caller owns, for components
// that record their own progress in the same transaction as the data (the
// Transaction Merger records the upload it merged).
func (st *Store) ApplyTx(ctx context.Context, tx *sql.Tx, origin string, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	return st.applyTx(ctx, tx, nil, origin, changes...)
}

// applyTx is ApplyTx on any statement runner of the transaction (the
// merger's prepares each statement once per transaction). In a merge
// transaction (m not nil) the log's counter is m's, locked and read once:
// it is advanced here, and m writes it back before the transaction
// commits; and rows are read from those m has read, kept until written.
func (st *Store) applyTx(ctx context.Context, tx Querier, m *mergeTx, origin string, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	// Lock and read the sequence counter first: on databases with concurrent
	// writers this orders writers, so sequence order is commit order.
	var last int64
	if m != nil {
		last = m.seq
	} else {
		var err error
		if last, err = st.lockLogSeq(ctx, tx); err != nil {
			return nil, err
		}
	}
	w := &writeTx{st: st, tx: tx, ctx: ctx, origin: origin, at: st.now().UTC()}
	if m != nil {
		w.rows = m.rows
	}
	for i, ch := range changes {
		if err := w.apply(ch); err != nil {
			if len(changes) > 1 {
				var fe *fieldsync.Error
				if errors.As(err, &fe) {
					return nil, &fieldsync.Error{Kind: fe.Kind, Msg: fmt.Sprintf("change %d of %d: %s", i+1, len(changes), fe.Msg)}
				}
				return nil, fmt.Errorf("change %d of %d: %w", i+1, len(changes), err)
			}
			return nil, err
		}
	}
	if len(w.txns) == 0 {
		return nil, nil
	}
	logSQL := st.stmts().logInsert
	user := fieldsync.UserFrom(ctx) // the signed-in user the write is made for ("" otherwise)
	for i := range w.txns {
		t := &w.txns[i]
		t.Seq = last + int64(i) + 1
		vals, err := encodeRow(t.Values)
		if err != nil {
			return nil, err
		}
		prev, err := encodeRow(t.Prev)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, logSQL, t.Seq, string(t.Op), t.Table, t.RowID, vals, prev, t.Origin, t.Time.UnixNano(), user); err != nil {
			return nil, fmt.Errorf("append to transaction log: %w", err)
		}
	}
	last += int64(len(w.txns))
	if m != nil {
		m.seq = last
		return w.txns, nil
	}
	if err := st.setLogSeq(ctx, tx, last); err != nil {
		return nil, err
	}
	return w.txns, nil
}

// lockLogSeq locks the log's counter for the transaction (where the
// database needs it) and reads it: writers take turns on it, so sequence
// order is commit order.
func (st *Store) lockLogSeq(ctx context.Context, tx Querier) (int64, error) {
	var last int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM fs_seq WHERE name = 'log'"+st.d.LockClause()).Scan(&last); err != nil {
		return 0, fmt.Errorf("read log sequence: %w", err)
	}
	return last, nil
}

// setLogSeq records the log's counter.
func (st *Store) setLogSeq(ctx context.Context, tx Querier, last int64) error {
	if _, err := tx.ExecContext(ctx, "UPDATE fs_seq SET value = "+st.d.Placeholder(1)+" WHERE name = 'log'", last); err != nil {
		return fmt.Errorf("advance log sequence: %w", err)
	}
	return nil
}

// writeTx is the state of one Apply.
type writeTx struct {
	st     *Store
	tx     Querier
	ctx    context.Context
	origin string
	at     time.Time
	txns   []fieldsync.Txn
	rows   *rowCache // nil: every row read from the database
}

func (w *writeTx) log(op fieldsync.Op, table, id string, values, prev fieldsync.Row) {
	w.txns = append(w.txns, fieldsync.Txn{Op: op, Table: table, RowID: id, Values: values, Prev: prev, Origin: w.origin, Time: w.at})
}

func (w *writeTx) apply(ch fieldsync.Change) error {
	t, err := w.st.Schema().LookupTable(ch.Table)
	if err != nil {
		return err
	}
	switch ch.Op {
	case fieldsync.OpInsert:
		return w.insert(t, ch)
	case fieldsync.OpUpdate:
		return w.update(t, ch)
	case fieldsync.OpDelete:
		if len(ch.Values) > 0 {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: a delete carries no values", t.Name)
		}
		return w.delete(t, ch.ID, map[string]bool{})
	default:
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: unknown operation %q (insert, update or delete)", t.Name, ch.Op)
	}
}

func (w *writeTx) insert(t *fieldsync.Table, ch fieldsync.Change) error {
	named := ch.ID
	if s, ok := ch.Values["id"].(string); ok && named == "" && fieldsync.ValidID(s) {
		named = s
	}
	vals, err := t.CoerceRowOf(named, ch.Values)
	if err != nil {
		return err
	}
	id := ch.ID
	if v, ok := vals["id"]; ok {
		if id != "" && id != v {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: id %q in the values differs from id %q of the request", t.Name, v, id)
		}
		id = v.(string)
	}
	if id == "" {
		id = fieldsync.NewID()
	} else if !fieldsync.ValidID(id) {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: %q is not a valid row id (letters, digits, _ . : -, at most 128)", t.Name, id)
	}
	row := make(fieldsync.Row, len(t.Columns))
	args := make([]any, len(t.Columns))
	for i, c := range t.Columns {
		v, given := vals[c.Name]
		if c.Name == "id" {
			v = id
		} else if !given && c.Default != nil {
			v = c.Default // left out, not null: the declared default
		}
		if v == nil && c.Required {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: column %s is required", t.Name, c.Name)
		}
		row[c.Name] = v
		args[i] = v
	}
	if _, err := w.rows.get(w.ctx, w.st, w.tx, t, id); err == nil {
		return fieldsync.Errorf(fieldsync.ErrExists, "%s: a row with id %q already exists", t.Name, id)
	} else if !errors.Is(err, fieldsync.ErrNotFound) {
		return err
	}
	if err := w.checkRefs(t, row); err != nil {
		return err
	}
	if err := w.checkUnique(t, row, id, nil); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, w.st.stmts().insertRow[t.Name], args...); err != nil {
		return fmt.Errorf("insert into %s: %w", t.Name, err)
	}
	w.rows.forget(t.Name, id)
	if err := w.own(t, id); err != nil {
		return err
	}
	w.log(fieldsync.OpInsert, t.Name, id, row, nil)
	return nil
}

// own records which node inserted a row of a private table (fs_owner), on
// the server; disown forgets it when the row is deleted.
func (w *writeTx) own(t *fieldsync.Table, id string) error {
	if !t.Private || w.st.local {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, fmt.Sprintf("INSERT INTO fs_owner (tbl, row_id, node) VALUES (%s)", w.st.placeholders(3)),
		t.Name, id, w.origin)
	if err != nil {
		return fmt.Errorf("record the node of %s %s: %w", t.Name, id, err)
	}
	return nil
}

func (w *writeTx) disown(t *fieldsync.Table, id string) error {
	if !t.Private || w.st.local {
		return nil
	}
	_, err := w.tx.ExecContext(w.ctx, fmt.Sprintf("DELETE FROM fs_owner WHERE tbl = %s AND row_id = %s", w.st.d.Placeholder(1), w.st.d.Placeholder(2)),
		t.Name, id)
	if err != nil {
		return fmt.Errorf("forget the node of %s %s: %w", t.Name, id, err)
	}
	return nil
}

func (w *writeTx) update(t *fieldsync.Table, ch fieldsync.Change) error {
	if ch.ID == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: an update needs the row id", t.Name)
	}
	if ch.Resend {
		for k := range ch.Values {
			if t.Column(k) == nil {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "table %s has no column %q", t.Name, k)
			}
		}
		return w.resend(t, ch)
	}
	vals, err := t.CoerceRowOf(ch.ID, ch.Values)
	if err != nil {
		return err
	}
	if v, ok := vals["id"]; ok {
		if v != ch.ID {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: a row's id cannot change (%q to %q)", t.Name, ch.ID, v)
		}
		delete(vals, "id")
	}
	cur, err := w.rows.get(w.ctx, w.st, w.tx, t, ch.ID)
	if err != nil {
		return err
	}
	changed := fieldsync.Row{}
	prev := fieldsync.Row{}
	for k, v := range vals {
		if !fieldsync.ValuesEqual(cur[k], v) {
			changed[k] = v
			prev[k] = cur[k]
		}
	}
	return w.updateRow(t, ch.ID, cur, changed, prev)
}

// resend logs the named columns of a row at their current values.
func (w *writeTx) resend(t *fieldsync.Table, ch fieldsync.Change) error {
	cur, err := w.rows.get(w.ctx, w.st, w.tx, t, ch.ID)
	if err != nil {
		return err
	}
	again := fieldsync.Row{}
	for k := range ch.Values {
		if k != "id" {
			again[k] = cur[k]
		}
	}
	if len(again) > 0 {
		w.log(fieldsync.OpUpdate, t.Name, ch.ID, again, again.Clone())
	}
	return nil
}

// updateRow writes the changed columns of a row whose current values are
// cur, after checking references and unique keys, and logs it.
func (w *writeTx) updateRow(t *fieldsync.Table, id string, cur, changed, prev fieldsync.Row) error {
	if len(changed) == 0 {
		return nil // nothing changed: nothing to log
	}
	if err := w.checkRefs(t, changed); err != nil {
		return err
	}
	next := cur.Clone()
	for k, v := range changed {
		next[k] = v
	}
	if err := w.checkUnique(t, next, id, changed); err != nil {
		return err
	}
	var sets []string
	var args []any
	for _, c := range t.Columns { // schema order keeps statements stable
		if v, ok := changed[c.Name]; ok {
			args = append(args, v)
			sets = append(sets, quote(c.Name)+" = "+w.st.d.Placeholder(len(args)))
		}
	}
	args = append(args, id)
	q := fmt.Sprintf("UPDATE %s SET %s WHERE id = %s", quote(t.Name), strings.Join(sets, ", "), w.st.d.Placeholder(len(args)))
	if _, err := w.tx.ExecContext(w.ctx, q, args...); err != nil {
		return fmt.Errorf("update %s: %w", t.Name, err)
	}
	w.rows.forget(t.Name, id)
	w.log(fieldsync.OpUpdate, t.Name, id, changed, prev)
	return nil
}

// delete removes a row after applying its foreign keys' delete actions to
// the rows that refer to it: restrict refuses, cascade deletes them first
// (recursively), set_null clears the reference. seen guards against cycles.
func (w *writeTx) delete(t *fieldsync.Table, id string, seen map[string]bool) error {
	if id == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%s: a delete needs the row id", t.Name)
	}
	key := t.Name + "\x00" + id
	if seen[key] {
		return nil
	}
	seen[key] = true
	cur, err := w.rows.get(w.ctx, w.st, w.tx, t, id)
	if err != nil {
		if errors.Is(err, fieldsync.ErrNotFound) && len(seen) > 1 {
			return nil // already deleted earlier in this cascade
		}
		return err
	}
	if t.Name == w.st.Schema().Nodes.EmployeeTable && !w.st.local {
		var node string
		err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf("SELECT name FROM fs_node WHERE employee_id = %s AND active = 1 ORDER BY name",
			w.st.d.Placeholder(1)), id).Scan(&node)
		if err == nil {
			return fieldsync.Errorf(fieldsync.ErrInUse, "%s %q has the active node %q; deactivate it first", t.Name, id, node)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("check nodes of %s %s: %w", t.Name, id, err)
		}
	}
	for _, ref := range w.st.Schema().ReferencesTo(t.Name) {
		ids, err := w.referrers(ref, id)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			continue
		}
		switch ref.Column.OnDelete {
		case fieldsync.OnDeleteCascade:
			for _, rid := range ids {
				if err := w.delete(ref.Table, rid, seen); err != nil {
					return err
				}
			}
		case fieldsync.OnDeleteSetNull:
			for _, rid := range ids {
				rcur, err := w.rows.get(w.ctx, w.st, w.tx, ref.Table, rid)
				if errors.Is(err, fieldsync.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if rcur[ref.Column.Name] == nil {
					continue
				}
				err = w.updateRow(ref.Table, rid, rcur,
					fieldsync.Row{ref.Column.Name: nil}, fieldsync.Row{ref.Column.Name: rcur[ref.Column.Name]})
				if err != nil {
					return err
				}
			}
		default:
			for _, rid := range ids {
				if seen[ref.Table.Name+"\x00"+rid] {
					continue // being deleted by this same cascade
				}
				return fieldsync.Errorf(fieldsync.ErrInUse,
					"%s %q is still referenced by %s %q (%s.%s); delete or change that row first",
					t.Name, id, ref.Table.Name, rid, ref.Table.Name, ref.Column.Name)
			}
		}
	}
	if _, err := w.tx.ExecContext(w.ctx, fmt.Sprintf("DELETE FROM %s WHERE id = %s", quote(t.Name), w.st.d.Placeholder(1)), id); err != nil {
		return fmt.Errorf("delete from %s: %w", t.Name, err)
	}
	w.rows.forget(t.Name, id)
	if err := w.disown(t, id); err != nil {
		return err
	}
	w.log(fieldsync.OpDelete, t.Name, id, nil, cur)
	return nil
}

func (w *writeTx) referrers(ref fieldsync.Ref, id string) ([]string, error) {
	rows, err := w.tx.QueryContext(w.ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s = %s ORDER BY id",
		quote(ref.Table.Name), quote(ref.Column.Name), w.st.d.Placeholder(1)), id)
	if err != nil {
		return nil, fmt.Errorf("find rows of %s referring to %s: %w", ref.Table.Name, id, err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var rid string
		if err := rows.Scan(&rid); err != nil {
			return nil, err
		}
		ids = append(ids, rid)
	}
	return ids, rows.Err()
}

// checkRefs refuses dangling foreign keys among the given values.
func (w *writeTx) checkRefs(t *fieldsync.Table, vals fieldsync.Row) error {
	if w.st.local {
		return nil
	}
	for _, c := range t.ForeignKeys() {
		v, ok := vals[c.Name]
		if !ok || v == nil {
			continue
		}
		var one int
		err := w.tx.QueryRowContext(w.ctx, w.st.stmts().exists[c.References], v).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "%s.%s: no %s with id %q", t.Name, c.Name, c.References, v)
		}
		if err != nil {
			return fmt.Errorf("check %s.%s: %w", t.Name, c.Name, err)
		}
	}
	return nil
}

// checkUnique refuses a row that would clash with another on a unique key.
// When changed is not nil only keys touching a changed column are checked.
func (w *writeTx) checkUnique(t *fieldsync.Table, row fieldsync.Row, id string, changed fieldsync.Row) error {
	if w.st.local {
		return nil
	}
	for _, key := range t.Unique {
		touched := changed == nil
		var conds []string
		var args []any
		null := false
		for _, c := range key {
			if _, ok := changed[c]; ok {
				touched = true
			}
			if row[c] == nil {
				null = true // NULLs never clash, as in SQL
			}
			args = append(args, row[c])
			conds = append(conds, quote(c)+" = "+w.st.d.Placeholder(len(args)))
		}
		if !touched || null {
			continue
		}
		args = append(args, id)
		var other string
		err := w.tx.QueryRowContext(w.ctx, fmt.Sprintf("SELECT id FROM %s WHERE %s AND id <> %s",
			quote(t.Name), strings.Join(conds, " AND "), w.st.d.Placeholder(len(args))), args...).Scan(&other)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check unique key of %s: %w", t.Name, err)
		}
		vals := make([]string, len(key))
		for i, c := range key {
			vals[i] = fmt.Sprintf("%s=%v", c, row[c])
		}
		return fieldsync.Errorf(fieldsync.ErrExists, "%s: %s is already used by row %q (unique key %s)",
			t.Name, strings.Join(vals, ", "), other, strings.Join(key, ", "))
	}
	return nil
}

// encodeRow is the Transaction Log's text form of a row: JSON, decoded back
// to canonical values through the schema by decodeRow.
func encodeRow(r fieldsync.Row) (any, error) {
	if r == nil {
		return nil, nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode row: %w", err)
	}
	return string(b), nil
}
