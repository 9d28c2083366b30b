package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// What a remote node's local database (package localdb) needs of the shared
// SQL: its state in fs_meta, its log read inside a transaction, and server
// transactions applied as they are.

// MetaTx returns a value kept in fs_meta, as tx sees it, and whether it is
// there.
func (st *Store) MetaTx(ctx context.Context, tx *sql.Tx, key string) (string, bool, error) {
	return st.meta(ctx, tx, key)
}

// MetaAll returns every value kept in fs_meta, by key.
func (st *Store) MetaAll(ctx context.Context) (map[string]string, error) {
	rows, err := st.read.QueryContext(ctx, "SELECT key, value FROM fs_meta")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

// SetMetaTx sets a value in fs_meta inside tx.
func (st *Store) SetMetaTx(ctx context.Context, tx *sql.Tx, key, value string) error {
	return st.setMeta(ctx, tx, key, value)
}

// ReadLogTx is ReadLog as tx sees it.
func (st *Store) ReadLogTx(ctx context.Context, tx *sql.Tx, after int64, limit int) ([]fieldsync.Txn, error) {
	return st.readLog(ctx, tx, after, limit)
}

// RemoteApplier applies server transactions inside one local transaction,
// without logging them, preparing each distinct statement once: a batch of
// inserts into a table is one statement run many times, as a bulk insert
// is. An insert replaces the row (it may be a row sent whole again), an
// update changes the columns it carries if the row is here, a delete or
// purge drops the row if it is here.
type RemoteApplier struct {
	st    *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	args  []any
}

// RemoteApplier returns an applier of server transactions inside tx; Close
// it before tx ends.
func (st *Store) RemoteApplier(tx *sql.Tx) *RemoteApplier { return &RemoteApplier{st: st, tx: tx} }

func (a *RemoteApplier) exec(ctx context.Context, query string, args ...any) error {
	stmt := a.stmts[query]
	if stmt == nil {
		var err error
		if stmt, err = a.tx.PrepareContext(ctx, query); err != nil {
			return err
		}
		if a.stmts == nil {
			a.stmts = map[string]*sql.Stmt{}
		}
		a.stmts[query] = stmt
	}
	_, err := stmt.ExecContext(ctx, args...)
	return err
}

// Close releases the prepared statements.
func (a *RemoteApplier) Close() {
	for _, s := range a.stmts {
		s.Close()
	}
}

// Clear deletes every row of a table.
func (a *RemoteApplier) Clear(ctx context.Context, table string) error {
	tb := a.st.Schema().Table(table)
	if tb == nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown table %q", table)
	}
	_, err := a.tx.ExecContext(ctx, "DELETE FROM "+quote(tb.Name))
	return err
}

// Apply applies one server transaction.
func (a *RemoteApplier) Apply(ctx context.Context, t fieldsync.Txn) error {
	st := a.st
	tb := st.Schema().Table(t.Table)
	if tb == nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown table %q", t.Table)
	}
	switch t.Op {
	case fieldsync.OpInsert:
		a.args = a.args[:0]
		for _, c := range tb.Columns {
			v := t.Values[c.Name]
			if c.Name == "id" {
				v = t.RowID
			}
			a.args = append(a.args, v)
		}
		return a.exec(ctx, st.stmts().upsertRow[tb.Name], a.args...)
	case fieldsync.OpUpdate:
		var sets []string
		a.args = a.args[:0]
		for _, c := range tb.Columns {
			if v, ok := t.Values[c.Name]; ok && c.Name != "id" {
				a.args = append(a.args, v)
				sets = append(sets, quote(c.Name)+" = "+st.d.Placeholder(len(a.args)))
			}
		}
		if len(sets) == 0 {
			return nil
		}
		a.args = append(a.args, t.RowID)
		return a.exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE id = %s", quote(tb.Name), strings.Join(sets, ", "), st.d.Placeholder(len(a.args))), a.args...)
	case fieldsync.OpDelete, fieldsync.OpPurge:
		return a.exec(ctx, st.stmts().deleteRow[tb.Name], t.RowID)
	}
	return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown operation %q", t.Op)
}
