package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
)

// History returns a row's latest Transaction Log entries, newest first
// (fieldsync.History): those still in fs_log, and those the routers have
// trimmed from it, which TrimLog keeps in fs_history.
func (st *Store) History(ctx context.Context, table, id string, limit int) ([]fieldsync.HistoryEntry, error) {
	if _, err := st.Schema().LookupTable(table); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > fieldsync.MaxHistory {
		limit = fieldsync.MaxHistory
	}
	p := st.d.Placeholder
	q := fmt.Sprintf("SELECT seq, op, origin, usr, at FROM fs_log WHERE tbl = %s AND row_id = %s"+
		" UNION ALL SELECT seq, op, origin, usr, at FROM fs_history WHERE tbl = %s AND row_id = %s ORDER BY seq DESC LIMIT %d",
		p(1), p(2), p(3), p(4), limit)
	rows, err := st.read.QueryContext(ctx, q, table, id, table, id)
	if err != nil {
		return nil, fmt.Errorf("read the history of %s %s: %w", table, id, err)
	}
	defer rows.Close()
	out := []fieldsync.HistoryEntry{}
	for rows.Next() {
		var e fieldsync.HistoryEntry
		var op string
		var at int64
		if err := rows.Scan(&e.Seq, &op, &e.Origin, &e.User, &at); err != nil {
			return nil, fmt.Errorf("read the history of %s %s: %w", table, id, err)
		}
		e.Op, e.Time = fieldsync.Op(op), time.Unix(0, at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the history of %s %s: %w", table, id, err)
	}
	return out, nil
}

// keepHistory copies the log entries up to upTo into fs_history before
// TrimLog deletes them, so that a row's history outlives its routing. A
// node's local database keeps none.
func (st *Store) keepHistory(ctx context.Context, tx Querier, upTo int64) error {
	if st.local {
		return nil
	}
	_, err := tx.ExecContext(ctx, "INSERT INTO fs_history (seq, op, tbl, row_id, origin, usr, at)"+
		" SELECT seq, op, tbl, row_id, origin, usr, at FROM fs_log WHERE seq <= "+st.d.Placeholder(1)+" ON CONFLICT (seq) DO NOTHING", upTo)
	return err
}

// pruneBatch is how many history entries one transaction of PruneHistory
// deletes, so that pruning a large backlog holds no long transaction.
const pruneBatch = 10_000

// PruneHistory deletes the history entries (fs_history: log entries the
// routers are done with) older than before, and returns how many. The
// entries still in the Transaction Log are not touched.
func (st *Store) PruneHistory(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := st.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, "DELETE FROM fs_history WHERE seq IN (SELECT seq FROM fs_history WHERE at < "+
				st.d.Placeholder(1)+" ORDER BY seq LIMIT "+strconv.Itoa(pruneBatch)+")", before.UnixNano())
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("prune the history: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}
