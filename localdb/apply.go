package localdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/sqlstore"
)

// ApplyInbox applies one outbox file downloaded to the node, in one local
// transaction that also records the file as applied: a file applied before
// is skipped (any file may arrive twice). Transactions the node's extract
// already holds are skipped, and so are rows of tables the node's schema
// does not know. The changes are the server's, already checked there: they
// are applied as they are and not logged as the node's own. It reports
// whether the file was applied.
//
// The node's own changes (own, and the local log as the transaction sees
// it) stay over the server's older values: once the node's change is merged
// the server sends back what won, if it was not the node's own value.
func (db *DB) ApplyInbox(ctx context.Context, number int64, txns []fieldsync.Txn, own *OwnChanges) (bool, error) {
	n, err := db.ApplyInboxFiles(ctx, []InboxFile{{Number: number, Txns: txns}}, own)
	return n > 0, err
}

// InboxFile is one downloaded outbox file's number and transactions, and
// the parts of a file merged from several (dx.Header.Parts): those of
// files applied already are skipped.
type InboxFile struct {
	Number int64
	Txns   []fieldsync.Txn
	Parts  []dx.Part
}

// ApplyInboxFiles applies several inbox files, in order, as ApplyInbox
// does each, but in one local transaction that records the last as
// applied (one commit for all). It returns how many it applied. A
// schema-change marker among their transactions migrates the database in
// that transaction (see migrate.go), and what follows it applies under the
// new version; if the transaction fails, the schema it began with is the
// one in force again.
func (db *DB) ApplyInboxFiles(ctx context.Context, files []InboxFile, own *OwnChanges) (int, error) {
	db.migrateMu.Lock()
	defer db.migrateMu.Unlock()
	before, beforeV := db.st.Schema(), db.st.SchemaVersion()
	applied := 0
	var done []migration
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		db.restoreSchema(before, beforeV)
		applied, done = 0, nil
		last, err := metaInt(ctx, db.st, tx, keyInboxApplied)
		if err != nil {
			return err
		}
		in := &inboxApply{db: db, tx: tx, own: own}
		if in.extractSeq, err = metaInt(ctx, db.st, tx, keyExtractSeq); err != nil {
			return err
		}
		if in.keep, err = db.withLog(ctx, tx, own); err != nil {
			return err
		}
		in.a = db.st.RemoteApplier(tx)
		defer func() { in.a.Close() }()
		for _, f := range files {
			if f.Number <= last {
				continue
			}
			f.Txns = dx.Header{Parts: f.Parts}.After(f.Txns, last)
			if err := in.file(ctx, f); err != nil {
				return err
			}
			last = f.Number
			applied++
		}
		done = in.migrations
		if applied == 0 {
			return nil
		}
		return db.st.SetMetaTx(ctx, tx, keyInboxApplied, strconv.FormatInt(last, 10))
	})
	if err != nil {
		db.restoreSchema(before, beforeV)
		return 0, err
	}
	for _, m := range done {
		db.finish(m)
	}
	if applied > 0 {
		db.st.NotifyChanged()
	}
	return applied, nil
}

// inboxApply is the state of one transaction applying inbox files.
type inboxApply struct {
	db         *DB
	tx         *sql.Tx
	a          *sqlstore.RemoteApplier
	own, keep  *OwnChanges // own as given; keep with the local log
	extractSeq int64
	migrations []migration
}

// file applies one inbox file's transactions.
func (in *inboxApply) file(ctx context.Context, f InboxFile) error {
	db := in.db
	for _, t := range f.Txns {
		if t.Seq <= in.extractSeq {
			continue
		}
		if fieldsync.IsSchemaMarker(t) {
			if err := in.marker(ctx, f.Number, t); err != nil {
				return err
			}
			continue
		}
		if db.st.Schema().Table(t.Table) == nil {
			// A table the node's schema version lacks (a database of an
			// earlier build, which no marker reached): skipped.
			continue
		}
		t, skip := in.keep.keepOwn(t)
		if skip {
			continue // deleted here: the delete is on its way up
		}
		if err := in.a.Apply(ctx, t); err != nil {
			return fmt.Errorf("inbox file %d, transaction %d (%s %s %s): %w", f.Number, t.Seq, t.Op, t.Table, t.RowID, err)
		}
	}
	return nil
}

// marker applies a schema-change marker; after a migration the statements
// and the node's own changes are those of the new version.
func (in *inboxApply) marker(ctx context.Context, number int64, t fieldsync.Txn) error {
	m, err := in.db.marker(ctx, in.tx, number, t)
	if err != nil || m == nil {
		return err
	}
	in.migrations = append(in.migrations, *m)
	in.a.Close()
	in.a = in.db.st.RemoteApplier(in.tx)
	in.keep, err = in.db.withLog(ctx, in.tx, in.own)
	return err
}

// withLog returns own followed by the changes of the local log not yet
// packaged for upload, as tx sees it.
func (db *DB) withLog(ctx context.Context, tx *sql.Tx, own *OwnChanges) (*OwnChanges, error) {
	// The log keeps the packaged changes until they are merged: own holds
	// those (from the upload files), the log after them the rest.
	packaged, err := metaInt(ctx, db.st, tx, keyLogPackaged)
	if err != nil {
		return nil, err
	}
	local, err := db.st.ReadLogTx(ctx, tx, packaged, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	return own.withLocal(local), nil
}

// Purge drops a row without logging it (the server told the node the row
// is not its own any more).
func (db *DB) Purge(ctx context.Context, table, id string) error {
	err := db.applyOne(ctx, fieldsync.Txn{Op: fieldsync.OpPurge, Table: table, RowID: id}, nil)
	if err == nil {
		db.st.NotifyChanged()
	}
	return err
}

// Put writes a whole row as the server has it now, without logging it; row
// nil means the server has no such row for the node, which drops it. The
// node's own changes the server has not merged yet (own, and the local log)
// stay over the server's values, and a row the node deleted stays deleted.
func (db *DB) Put(ctx context.Context, table, id string, row fieldsync.Row, own *OwnChanges) error {
	t := fieldsync.Txn{Op: fieldsync.OpPurge, Table: table, RowID: id}
	if row != nil {
		// Newer than anything the server merged: only unmerged changes stay.
		t = fieldsync.Txn{Seq: math.MaxInt64, Op: fieldsync.OpInsert, Table: table, RowID: id, Values: row}
	}
	err := db.applyOne(ctx, t, own)
	if err == nil {
		db.st.NotifyChanged()
	}
	return err
}

// applyOne applies one server transaction in a local transaction, under
// the node's own changes when it is an insert or update.
func (db *DB) applyOne(ctx context.Context, t fieldsync.Txn, own *OwnChanges) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if t.Op == fieldsync.OpInsert || t.Op == fieldsync.OpUpdate {
			keep, err := db.withLog(ctx, tx, own)
			if err != nil {
				return err
			}
			var deleted bool
			if t, deleted = keep.keepOwn(t); deleted {
				return nil
			}
		}
		a := db.st.RemoteApplier(tx)
		defer a.Close()
		return a.Apply(ctx, t)
	})
}

// ReplaceData makes the database hold the rows of the node's newer
// Database Extract, the file at path, in one transaction: when the
// extract's schema or its version is not the database's, the database
// migrates to it first (as for a schema-change marker: see migrate.go);
// every row of every table is replaced by the extract's; then the server
// transactions in current are applied (rows as the server has them now);
// then the node's own changes the extract cannot hold (own, and the local
// log: not merged, or merged after the extract was taken) are laid over the
// rows they changed; and the extract's sequence number becomes the
// database's, so transactions at or below it are skipped from then on. The
// local log (changes not yet uploaded) is kept.
func (db *DB) ReplaceData(ctx context.Context, path string, current []fieldsync.Txn, own *OwnChanges) error {
	src, err := open(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	h := src.Header()
	if h.Node != db.node {
		return fmt.Errorf("the extract is node %q's, not %q's", h.Node, db.node)
	}
	db.migrateMu.Lock()
	defer db.migrateMu.Unlock()
	before, beforeV := db.st.Schema(), db.st.SchemaVersion()
	var done *migration
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		db.restoreSchema(before, beforeV)
		done = nil
		if h.SchemaFingerprint != before.Fingerprint() || h.SchemaVersion != beforeV || h.SchemaYAML != db.Header().SchemaYAML {
			m, err := db.migrateTx(ctx, tx, src.Schema(), h.SchemaVersion)
			if err != nil {
				return fmt.Errorf("take the extract's schema (version %d): %w", h.SchemaVersion, err)
			}
			done = &m
		}
		a := db.st.RemoteApplier(tx)
		defer a.Close()
		if err := db.copyRows(ctx, a, src); err != nil {
			return err
		}
		for _, t := range current {
			if db.st.Schema().Table(t.Table) == nil {
				continue // a table the extract's schema lacks
			}
			if err := a.Apply(ctx, t); err != nil {
				return err
			}
		}
		if err := db.keepOwnRows(ctx, tx, a, h.ExtractSeq, own); err != nil {
			return err
		}
		return db.st.SetMetaTx(ctx, tx, keyExtractSeq, strconv.FormatInt(h.ExtractSeq, 10))
	})
	if err != nil {
		db.restoreSchema(before, beforeV)
		return err
	}
	if done != nil {
		db.finish(*done)
	}
	db.st.NotifyChanged()
	return nil
}

// copyRows replaces every row of every table by src's.
func (db *DB) copyRows(ctx context.Context, a *sqlstore.RemoteApplier, src *DB) error {
	return src.st.Snapshot(ctx, func(s fieldsync.Snapshot) error {
		for _, t := range db.st.Schema().Tables {
			if err := a.Clear(ctx, t.Name); err != nil {
				return fmt.Errorf("replace rows of %s: %w", t.Name, err)
			}
			err := s.Scan(ctx, t.Name, func(r fieldsync.Row) error {
				return a.Apply(ctx, fieldsync.Txn{Op: fieldsync.OpInsert, Table: t.Name, RowID: r.ID(), Values: r})
			})
			if err != nil {
				return fmt.Errorf("replace rows of %s: %w", t.Name, err)
			}
		}
		return nil
	})
}

// keepOwnRows lays the node's own changes that an extract taken at seq
// cannot hold over the rows they changed.
func (db *DB) keepOwnRows(ctx context.Context, tx *sql.Tx, a *sqlstore.RemoteApplier, seq int64, own *OwnChanges) error {
	keep, err := db.withLog(ctx, tx, own)
	if err != nil {
		return err
	}
	r := db.st.TxReader(tx)
	for _, o := range keep.rowsAfter(seq) {
		if db.st.Schema().Table(o.table) == nil {
			continue // a table the schema dropped: the server no longer has it
		}
		row, err := r.Get(ctx, o.table, o.id)
		if errors.Is(err, fieldsync.ErrNotFound) {
			if !o.inserted {
				continue // gone for the node: not the node's to bring back
			}
			row, err = fieldsync.Row{"id": o.id}, nil
		}
		if err != nil {
			return err
		}
		// As if the extract sent the row: the node's changes it cannot
		// hold stay over it.
		t, deleted := keep.keepOwn(fieldsync.Txn{Seq: seq, Op: fieldsync.OpInsert, Table: o.table, RowID: o.id, Values: row})
		if deleted {
			t = fieldsync.Txn{Op: fieldsync.OpPurge, Table: o.table, RowID: o.id}
		}
		if err := a.Apply(ctx, t); err != nil {
			return err
		}
	}
	return nil
}
