package sqlstore

import (
	"context"
	"fmt"
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
