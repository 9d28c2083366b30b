package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/fieldsync/fieldsync"
)

// RecordRecovery records one damaged-file event.
func (st *Store) RecordRecovery(ctx context.Context, r fieldsync.Recovery) error {
	if r.At.IsZero() {
		r.At = st.now()
	}
	_, err := st.write.ExecContext(ctx, fmt.Sprintf("INSERT INTO fs_recovery (at, node, component, what) VALUES (%s, %s, %s, %s)",
		st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3), st.d.Placeholder(4)),
		r.At.UnixNano(), r.Node, cutText(r.Component, 64), cutText(r.What, fieldsync.MaxRecoveryText))
	if err != nil {
		return fmt.Errorf("record damaged-file event: %w", err)
	}
	return nil
}

// RecentRecoveries counts the events since the given time and returns the
// latest limit of them, newest first.
func (st *Store) RecentRecoveries(ctx context.Context, since time.Time, limit int) (int64, []fieldsync.Recovery, error) {
	var n int64
	if err := st.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM fs_recovery WHERE at >= "+st.d.Placeholder(1), since.UnixNano()).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("count damaged-file events: %w", err)
	}
	rows, err := st.read.QueryContext(ctx, fmt.Sprintf("SELECT at, node, component, what FROM fs_recovery WHERE at >= %s ORDER BY at DESC LIMIT %d",
		st.d.Placeholder(1), max(limit, 0)), since.UnixNano())
	if err != nil {
		return 0, nil, fmt.Errorf("read damaged-file events: %w", err)
	}
	defer rows.Close()
	var out []fieldsync.Recovery
	for rows.Next() {
		var r fieldsync.Recovery
		var at int64
		if err := rows.Scan(&at, &r.Node, &r.Component, &r.What); err != nil {
			return 0, nil, err
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return n, out, rows.Err()
}

// PruneRecoveries deletes the events recorded before the given time.
func (st *Store) PruneRecoveries(ctx context.Context, before time.Time) (int64, error) {
	res, err := st.write.ExecContext(ctx, "DELETE FROM fs_recovery WHERE at < "+st.d.Placeholder(1), before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune damaged-file events: %w", err)
	}
	return res.RowsAffected()
}

// cutText makes s valid UTF-8, on one line, of at most n bytes.
func cutText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
