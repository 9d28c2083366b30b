package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// Meta returns a value the store keeps in fs_meta ("" when absent).
func (st *Store) Meta(ctx context.Context, key string) (string, error) {
	v, _, err := st.meta(ctx, st.read, key)
	return v, err
}

// SetMeta sets a value in fs_meta.
func (st *Store) SetMeta(ctx context.Context, key, value string) error {
	return st.setMeta(ctx, st.write, key, value)
}

// MetaInt returns an integer kept in fs_meta (0 when absent).
func (st *Store) MetaInt(ctx context.Context, key string) (int64, error) {
	v, err := st.Meta(ctx, key)
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// Meta keys of a remote node's local database.
const (
	MetaInboxApplied = "inbox_applied" // number of the last outbox file applied
	MetaExtractSeq   = "extract_seq"   // the extract's sequence number: older transactions are in it
)

// Keeper gives the node's own changes that the server's older values must
// not overwrite. It is called inside the local transaction that applies
// server changes, with the node's local log as it stands there (its
// changes not yet packaged for upload), so a change the user makes while
// the inbox is applied is either seen by it or made after the apply. It
// returns, for a server transaction about to be applied, the node's values
// of the columns it changed (kept, even when the server sends the row whole
// again), or deleted when the node deleted the row itself.
type Keeper func(local []fieldsync.Txn) func(fieldsync.Txn) (own fieldsync.Row, deleted bool)

// ApplyInbox applies one outbox file downloaded to a remote node's local
// database, in one database transaction that also records the file as
// applied: a file applied before is skipped (any file may arrive twice).
// Transactions the node's extract already holds are skipped. The changes
// are the server's, already checked there: they are applied as they are and
// not logged as the node's own. It reports whether the file was applied.
//
// keep, when not nil, gives the node's own changes that the server's older
// values must not overwrite. Once the node's change is merged the server
// sends back what won, if it was not the node's own value.
func (st *Store) ApplyInbox(ctx context.Context, number int64, txns []fieldsync.Txn, keeper Keeper) (bool, error) {
	applied := false
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		last, err := metaInt(ctx, st, tx, MetaInboxApplied)
		if err != nil {
			return err
		}
		if number <= last {
			return nil
		}
		extractSeq, err := metaInt(ctx, st, tx, MetaExtractSeq)
		if err != nil {
			return err
		}
		keep, err := st.keepFunc(ctx, tx, keeper)
		if err != nil {
			return err
		}
		a := &remoteApplier{st: st, tx: tx}
		defer a.close()
		for _, t := range txns {
			if t.Seq <= extractSeq {
				continue
			}
			if st.schema.Table(t.Table) == nil {
				// A table the server's schema gained after this database was
				// made: the node cannot hold its rows until it is made anew.
				continue
			}
			t, skip := keepOwn(t, keep)
			if skip {
				continue // deleted here: the delete is on its way up
			}
			if err := a.apply(ctx, t); err != nil {
				return fmt.Errorf("inbox file %d, transaction %d (%s %s %s): %w", number, t.Seq, t.Op, t.Table, t.RowID, err)
			}
		}
		applied = true
		return st.setMeta(ctx, tx, MetaInboxApplied, strconv.FormatInt(number, 10))
	})
	if err != nil {
		return false, err
	}
	if applied {
		st.NotifyChanged()
	}
	return applied, nil
}

// keepFunc calls keeper, if any, with the local log as tx sees it.
func (st *Store) keepFunc(ctx context.Context, tx *sql.Tx, keeper Keeper) (func(fieldsync.Txn) (fieldsync.Row, bool), error) {
	if keeper == nil {
		return nil, nil
	}
	local, err := st.readLog(ctx, tx, 0, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	return keeper(local), nil
}

// keepOwn lays the node's own values, as keep gives them, over a server
// insert or update, or reports that the node deleted the row.
func keepOwn(t fieldsync.Txn, keep func(fieldsync.Txn) (fieldsync.Row, bool)) (fieldsync.Txn, bool) {
	if keep == nil || (t.Op != fieldsync.OpInsert && t.Op != fieldsync.OpUpdate) {
		return t, false
	}
	own, deleted := keep(t)
	if deleted {
		return t, true
	}
	if len(own) > 0 {
		t.Values = t.Values.Clone()
		for c, v := range own {
			if _, sent := t.Values[c]; (sent || t.Op == fieldsync.OpInsert) && c != "id" {
				t.Values[c] = v
			}
		}
	}
	return t, false
}

func metaInt(ctx context.Context, st *Store, q Querier, key string) (int64, error) {
	v, ok, err := st.meta(ctx, q, key)
	if err != nil || !ok {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// applyRemote applies one server transaction: an insert replaces the row
// (it may be a row sent whole again), an update changes the columns it
// carries if the row is here, a delete or purge drops the row if it is here.
func (st *Store) applyRemote(ctx context.Context, tx *sql.Tx, t fieldsync.Txn) error {
	a := &remoteApplier{st: st, tx: tx}
	defer a.close()
	return a.apply(ctx, t)
}

// remoteApplier applies server transactions inside one local transaction,
// preparing each distinct statement once: a batch of inserts into a table
// is one statement run many times, as a bulk insert is.
type remoteApplier struct {
	st    *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	args  []any
}

func (a *remoteApplier) exec(ctx context.Context, query string, args ...any) error {
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

func (a *remoteApplier) close() {
	for _, s := range a.stmts {
		s.Close()
	}
}

func (a *remoteApplier) apply(ctx context.Context, t fieldsync.Txn) error {
	st := a.st
	tb := st.schema.Table(t.Table)
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
		return a.exec(ctx, st.upsertRow[tb.Name], a.args...)
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
		return a.exec(ctx, st.deleteRow[tb.Name], t.RowID)
	}
	return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown operation %q", t.Op)
}

// Purge drops a row from a local database without logging it (the server
// told the node the row is not its own any more).
func (st *Store) Purge(ctx context.Context, table, id string) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		return st.applyRemote(ctx, tx, fieldsync.Txn{Op: fieldsync.OpPurge, Table: table, RowID: id})
	})
}

// Put writes a whole row into a local database as the server has it now,
// without logging it; row nil means the server has no such row for the
// node, which drops it. The node's own changes keeper gives (those the
// server has not merged yet) stay over the server's values, and a row the
// node deleted stays deleted.
func (st *Store) Put(ctx context.Context, table, id string, row fieldsync.Row, keeper Keeper) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		if row == nil {
			return st.applyRemote(ctx, tx, fieldsync.Txn{Op: fieldsync.OpPurge, Table: table, RowID: id})
		}
		keep, err := st.keepFunc(ctx, tx, keeper)
		if err != nil {
			return err
		}
		// Newer than anything the server merged: only unmerged changes stay.
		t, deleted := keepOwn(fieldsync.Txn{Seq: math.MaxInt64, Op: fieldsync.OpInsert, Table: table, RowID: id, Values: row}, keep)
		if deleted {
			return nil
		}
		return st.applyRemote(ctx, tx, t)
	})
}

// OwnRow is a row a node changed itself, and whether it inserted it.
type OwnRow struct {
	Table, ID string
	Inserted  bool
}

// ReplaceData makes a local database hold the rows of a newer Database
// Extract, taken at seq, in one transaction: every row of every table is
// replaced by the extract's (scan reads them); then the server
// transactions in current are applied (rows as the server has them now);
// then the node's own changes that keeper gives are laid over the rows
// ownRows names (changes the server has not merged yet); and seq becomes
// the database's extract sequence number, so transactions at or below it
// are skipped from then on. The local log (changes not yet uploaded) is
// kept; keeper and ownRows get it as the transaction sees it.
func (st *Store) ReplaceData(ctx context.Context, seq int64, scan func(table string, fn func(fieldsync.Row) error) error,
	current []fieldsync.Txn, keeper Keeper, ownRows func(local []fieldsync.Txn) []OwnRow) error {
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		a := &remoteApplier{st: st, tx: tx}
		defer a.close()
		for _, t := range st.schema.Tables {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+quote(t.Name)); err != nil {
				return fmt.Errorf("replace rows of %s: %w", t.Name, err)
			}
			err := scan(t.Name, func(r fieldsync.Row) error {
				return a.apply(ctx, fieldsync.Txn{Op: fieldsync.OpInsert, Table: t.Name, RowID: r.ID(), Values: r})
			})
			if err != nil {
				return fmt.Errorf("replace rows of %s: %w", t.Name, err)
			}
		}
		for _, t := range current {
			if err := a.apply(ctx, t); err != nil {
				return err
			}
		}
		local, err := st.readLog(ctx, tx, 0, math.MaxInt32)
		if err != nil {
			return err
		}
		keep := keeper(local)
		r := st.TxReader(tx)
		for _, o := range ownRows(local) {
			row, err := r.Get(ctx, o.Table, o.ID)
			if errors.Is(err, fieldsync.ErrNotFound) {
				if !o.Inserted {
					continue // gone for the node: not the node's to bring back
				}
				row, err = fieldsync.Row{"id": o.ID}, nil
			}
			if err != nil {
				return err
			}
			// As if the extract sent the row: the node's changes it cannot
			// hold stay over it.
			t, deleted := keepOwn(fieldsync.Txn{Seq: seq, Op: fieldsync.OpInsert, Table: o.Table, RowID: o.ID, Values: row}, keep)
			if deleted {
				t = fieldsync.Txn{Op: fieldsync.OpPurge, Table: o.Table, RowID: o.ID}
			}
			if err := a.apply(ctx, t); err != nil {
				return err
			}
		}
		return st.setMeta(ctx, tx, MetaExtractSeq, strconv.FormatInt(seq, 10))
	})
	if err == nil {
		st.NotifyChanged()
	}
	return err
}
