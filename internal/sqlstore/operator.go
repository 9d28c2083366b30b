package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
)

// RecentSessions returns the latest sessions of every node, newest first,
// at most limit of them.
func (st *Store) RecentSessions(ctx context.Context, limit int) ([]fieldsync.Session, error) {
	return st.sessions(ctx, fmt.Sprintf(`SELECT %s FROM fs_session ORDER BY started DESC, id LIMIT %s`,
		sessionColumns, st.d.Placeholder(1)), limit)
}

// RefusedUploads returns the refused uploads of a node or ("") of every
// node, each naming its node, oldest first.
func (st *Store) RefusedUploads(ctx context.Context, node string) ([]fieldsync.Refusal, error) {
	q, args := "SELECT node, number, reason, at FROM fs_refused", []any{}
	if node != "" {
		q, args = q+" WHERE node = "+st.d.Placeholder(1), append(args, node)
	}
	rows, err := st.read.QueryContext(ctx, q+" ORDER BY at, node, number", args...)
	if err != nil {
		return nil, fmt.Errorf("read refused uploads: %w", err)
	}
	defer rows.Close()
	out := []fieldsync.Refusal{}
	for rows.Next() {
		var r fieldsync.Refusal
		var at int64
		if err := rows.Scan(&r.Node, &r.Number, &r.Reason, &at); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// RefusedChangePage returns one page of the records of changes refused
// alone (kinds refused and refused_rest), oldest first, paged as
// ConflictPage pages.
func (st *Store) RefusedChangePage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error) {
	limit := q.PageLimit()
	query := fmt.Sprintf("SELECT %s FROM fs_conflict WHERE kind IN ('%s', '%s') AND id > %s",
		conflictColumns, fieldsync.ConflictRefused, fieldsync.ConflictRefusedRest, st.d.Placeholder(1))
	args := []any{q.After}
	if q.Node != "" {
		query += " AND node = " + st.d.Placeholder(2)
		args = append(args, q.Node)
	}
	cs, err := st.queryConflicts(ctx, query+fmt.Sprintf(" ORDER BY id LIMIT %d", limit+1), args...)
	if err != nil {
		return fieldsync.ConflictPage{}, err
	}
	page := fieldsync.ConflictPage{Conflicts: cs}
	if len(cs) > limit {
		page.Conflicts = cs[:limit]
		page.Next = cs[limit-1].ID
	}
	return page, nil
}
