package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fieldsync/fieldsync"
)

// MergeBatch runs fn in one write transaction that also records how far
// the upload's merge got, or for its last batch the upload as merged (see
// fieldsync.Merging). The log's counter is read first, locked, so that
// mergers take turns and the checks for a batch merged meanwhile hold.
func (st *Store) MergeBatch(ctx context.Context, b *fieldsync.MergeBatch, fn func(fieldsync.MergeTx) error) error {
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		before, err := st.lockLogSeq(ctx, tx)
		if err != nil {
			return err
		}
		if last, err := st.lastMerged(ctx, tx, b.Node); err != nil {
			return err
		} else if last >= b.Number {
			return fieldsync.Errorf(fieldsync.ErrMerged, "upload %d of %s was merged or refused already", b.Number, b.Node)
		}
		p, err := st.mergeProgress(ctx, tx, b.Node, b.Number)
		if err != nil {
			return err
		}
		if p.Done != b.From {
			return fieldsync.Errorf(fieldsync.ErrMerged, "upload %d of %s: %d changes were merged, not %d", b.Number, b.Node, p.Done, b.From)
		}
		if b.From == 0 {
			p.FirstSeq = before + 1
		}
		mt := newMergeTx(st, tx, p.FirstSeq, before)
		if err := fn(mt); err != nil {
			return err
		}
		if err := mt.done(ctx, before); err != nil {
			return err
		}
		if b.Last {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM fs_merging WHERE node = %s AND number = %s",
				st.d.Placeholder(1), st.d.Placeholder(2)), b.Node, b.Number); err != nil {
				return fmt.Errorf("record merge of %s upload %d: %w", b.Node, b.Number, err)
			}
			return st.recordMerged(ctx, tx, b.Node, b.Number, p.FirstSeq, fieldsync.Usage{Bytes: b.Written, Inserts: b.Inserted})
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO fs_merging (node, number, done, first_seq, inserted, recorded, written) VALUES (%s)
			ON CONFLICT (node, number) DO UPDATE SET done = excluded.done, inserted = excluded.inserted, recorded = excluded.recorded,
			written = excluded.written`,
			st.placeholders(7)), b.Node, b.Number, b.To, p.FirstSeq, b.Inserted, b.Recorded, b.Written)
		if err != nil {
			return fmt.Errorf("record merge progress of %s upload %d: %w", b.Node, b.Number, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.NotifyChanged()
	return nil
}

// MergeProgress returns how far the merge of a node's upload got.
func (st *Store) MergeProgress(ctx context.Context, node string, number int64) (fieldsync.MergeProgress, error) {
	return st.mergeProgress(ctx, st.read, node, number)
}

func (st *Store) mergeProgress(ctx context.Context, q Querier, node string, number int64) (fieldsync.MergeProgress, error) {
	var p fieldsync.MergeProgress
	err := q.QueryRowContext(ctx, fmt.Sprintf("SELECT done, first_seq, inserted, recorded, written FROM fs_merging WHERE node = %s AND number = %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, number).Scan(&p.Done, &p.FirstSeq, &p.Inserted, &p.Recorded, &p.Written)
	if errors.Is(err, sql.ErrNoRows) {
		return fieldsync.MergeProgress{}, nil
	}
	if err != nil {
		return p, fmt.Errorf("read merge progress of %s upload %d: %w", node, number, err)
	}
	return p, nil
}

// RefusedChanges returns the records of the changes refused in a node's
// uploads numbered above since, oldest first.
func (st *Store) RefusedChanges(ctx context.Context, node string, since int64) ([]fieldsync.Conflict, error) {
	return st.queryConflicts(ctx, fmt.Sprintf("SELECT %s FROM fs_conflict WHERE node = %s AND upload > %s AND kind IN ('%s', '%s') ORDER BY id",
		conflictColumns, st.d.Placeholder(1), st.d.Placeholder(2), fieldsync.ConflictRefused, fieldsync.ConflictRefusedRest), node, since)
}

// StopMerging stops merging a node's uploads until ResumeMerging.
func (st *Store) StopMerging(ctx context.Context, node, reason string) error {
	_, err := st.write.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_merge_stop (node, reason, at) VALUES (%s) ON CONFLICT (node) DO UPDATE SET reason = excluded.reason, at = excluded.at",
		st.placeholders(3)), node, storableText(reason), st.now().UnixNano())
	if err != nil {
		return fmt.Errorf("stop merging %s: %w", node, err)
	}
	return nil
}

// ResumeMerging merges a stopped node's uploads again.
func (st *Store) ResumeMerging(ctx context.Context, node string) error {
	if _, err := st.write.ExecContext(ctx, "DELETE FROM fs_merge_stop WHERE node = "+st.d.Placeholder(1), node); err != nil {
		return fmt.Errorf("resume merging %s: %w", node, err)
	}
	st.NotifyChanged()
	return nil
}

// MergeStopped returns why a node's uploads are not merged ("" when they are).
func (st *Store) MergeStopped(ctx context.Context, node string) (string, error) {
	var reason string
	err := st.read.QueryRowContext(ctx, "SELECT reason FROM fs_merge_stop WHERE node = "+st.d.Placeholder(1), node).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read merge state of %s: %w", node, err)
	}
	return reason, nil
}

func newMergeTx(st *Store, tx *sql.Tx, firstSeq, seq int64) *mergeTx {
	return &mergeTx{txReader: txReader{st: st, tx: newPreparedTx(tx)}, firstSeq: firstSeq, seq: seq, rows: &rowCache{rows: map[rowKey]cachedRow{}}}
}

// rowCache keeps the rows a merge transaction read, each until the write
// path writes it (every write of a row goes through it), so the write
// path does not read again a row the merger just read. Callers get their
// own copy of a row.
type rowCache struct {
	rows map[rowKey]cachedRow
}

type rowKey struct{ table, id string }

type cachedRow struct {
	row fieldsync.Row
	err error // nil, or the row's ErrNotFound
}

// get reads a row of t, from the rows kept when c (which may be nil) has it.
func (c *rowCache) get(ctx context.Context, st *Store, q Querier, t *fieldsync.Table, id string) (fieldsync.Row, error) {
	if c == nil {
		return st.getRow(ctx, q, t, id)
	}
	k := rowKey{t.Name, id}
	if r, ok := c.rows[k]; ok {
		return r.row.Clone(), r.err
	}
	row, err := st.getRow(ctx, q, t, id)
	if err == nil || errors.Is(err, fieldsync.ErrNotFound) {
		c.rows[k] = cachedRow{row.Clone(), err}
	}
	return row, err
}

// keep keeps the rows of t read for ids (those left out do not exist).
func (c *rowCache) keep(t *fieldsync.Table, ids []string, rows map[string]fieldsync.Row) {
	for _, id := range ids {
		if r, ok := rows[id]; ok {
			c.rows[rowKey{t.Name, id}] = cachedRow{row: r.Clone()}
		} else {
			c.rows[rowKey{t.Name, id}] = cachedRow{err: fieldsync.Errorf(fieldsync.ErrNotFound, "%s: no row with id %q", t.Name, id)}
		}
	}
}

// forget drops a row written, so it is read again.
func (c *rowCache) forget(table, id string) {
	if c != nil {
		delete(c.rows, rowKey{table, id})
	}
}
