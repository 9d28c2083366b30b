package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fieldsync/fieldsync"
)

// TxReader reads rows inside a transaction the caller owns.
func (st *Store) TxReader(tx *sql.Tx) fieldsync.Reader { return &txReader{st: st, tx: tx} }

type txReader struct {
	st *Store
	tx Querier
}

func (r *txReader) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	t, err := r.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	return r.st.getRow(ctx, r.tx, t, id)
}

func (r *txReader) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return r.st.list(ctx, r.tx, table, q)
}

// LastMerged returns the number of the node's last merged (or refused) upload.
func (st *Store) LastMerged(ctx context.Context, node string) (int64, error) {
	return st.lastMerged(ctx, st.read, node)
}

func (st *Store) lastMerged(ctx context.Context, q Querier, node string) (int64, error) {
	var n int64
	err := q.QueryRowContext(ctx, "SELECT last_merged FROM fs_merge WHERE node = "+st.d.Placeholder(1), node).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read merge state of %s: %w", node, err)
	}
	return n, nil
}

// MergeUpload runs fn in one write transaction that also records the
// node's upload as merged (see fieldsync.Merging). Reading the log's
// counter first, locked where the database needs it, makes concurrent
// mergers take turns, so the check for an upload merged meanwhile holds.
func (st *Store) MergeUpload(ctx context.Context, node string, number int64, fn func(fieldsync.MergeTx) error) error {
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		before, err := st.lockLogSeq(ctx, tx)
		if err != nil {
			return err
		}
		if last, err := st.lastMerged(ctx, tx, node); err != nil {
			return err
		} else if last >= number {
			return fieldsync.Errorf(fieldsync.ErrMerged, "upload %d of %s was merged or refused already", number, node)
		}
		mt := newMergeTx(st, tx, before+1, before)
		if err := fn(mt); err != nil {
			return err
		}
		if err := mt.done(ctx, before); err != nil {
			return err
		}
		return st.recordMerged(ctx, tx, node, number, before+1, fieldsync.Usage{})
	})
	if err != nil {
		return err
	}
	st.NotifyChanged()
	return nil
}

// mergeTx is one upload's merge transaction. The log's counter is read
// and locked once when the transaction starts; its changes advance it in
// memory (seq), and done records it before the transaction commits.
type mergeTx struct {
	txReader
	firstSeq int64
	seq      int64
	rows     *rowCache
}

// Get reads a row as the transaction has it.
func (m *mergeTx) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	t, err := m.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	return m.rows.get(ctx, m.st, m.tx, t, id)
}

func (m *mergeTx) Apply(ctx context.Context, origin string, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	return m.st.applyTx(ctx, m.tx, m, origin, changes...)
}

// done records the log's counter, advanced from before by the changes
// logged in the transaction.
func (m *mergeTx) done(ctx context.Context, before int64) error {
	if m.seq == before {
		return nil
	}
	return m.st.setLogSeq(ctx, m.tx, m.seq)
}

func (m *mergeTx) RecordConflict(ctx context.Context, c fieldsync.Conflict) error {
	return m.st.recordConflict(ctx, m.tx, c)
}

func (m *mergeTx) FirstSeq() int64 { return m.firstSeq }

// GetRows returns the rows of a table with the given ids, by id, in one
// read; ids of no row are left out.
func (m *mergeTx) GetRows(ctx context.Context, table string, ids []string) (map[string]fieldsync.Row, error) {
	t, err := m.st.Schema().LookupTable(table)
	if err != nil {
		return nil, err
	}
	rows, err := m.st.getRows(ctx, m.tx, t, ids)
	if err != nil {
		return nil, err
	}
	m.rows.keep(t, ids, rows)
	return rows, nil
}

func (m *mergeTx) Owner(ctx context.Context, table, id string) (string, error) {
	var node string
	err := m.tx.QueryRowContext(ctx, fmt.Sprintf("SELECT node FROM fs_owner WHERE tbl = %s AND row_id = %s",
		m.st.d.Placeholder(1), m.st.d.Placeholder(2)), table, id).Scan(&node)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("read the node of %s %s: %w", table, id, err)
	}
	return node, nil
}

// MergedUploads returns the node's merged uploads numbered above since.
func (st *Store) MergedUploads(ctx context.Context, node string, since int64) ([]fieldsync.MergedUpload, error) {
	rows, err := st.read.QueryContext(ctx, fmt.Sprintf("SELECT number, first_seq FROM fs_upload WHERE node = %s AND number > %s ORDER BY number",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, since)
	if err != nil {
		return nil, fmt.Errorf("read merged uploads of %s: %w", node, err)
	}
	defer rows.Close()
	out := []fieldsync.MergedUpload{}
	for rows.Next() {
		var m fieldsync.MergedUpload
		if err := rows.Scan(&m.Number, &m.FirstSeq); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// recordMerged records, inside the caller's transaction, that the node's
// upload number was merged, its changes logged from firstSeq on, and what
// it wrote: it is never merged again.
func (st *Store) recordMerged(ctx context.Context, tx *sql.Tx, node string, number, firstSeq int64, u fieldsync.Usage) error {
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_upload (node, number, first_seq, at, written, inserted) VALUES (%s) ON CONFLICT (node, number) DO NOTHING",
		st.placeholders(6)), node, number, firstSeq, st.now().UnixNano(), u.Bytes, u.Inserts); err != nil {
		return fmt.Errorf("record merge of %s upload %d: %w", node, number, err)
	}
	if err := st.recordLastMerged(ctx, tx, node, number); err != nil {
		return err
	}
	return st.clearUploads(ctx, tx, node, number)
}

// Usage returns what the node's uploads merged since the given time wrote.
func (st *Store) Usage(ctx context.Context, node string, since time.Time) (fieldsync.Usage, error) {
	var u fieldsync.Usage
	err := st.read.QueryRowContext(ctx, fmt.Sprintf(
		"SELECT COALESCE(SUM(written), 0), COALESCE(SUM(inserted), 0) FROM fs_upload WHERE node = %s AND at >= %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, since.UnixNano()).Scan(&u.Bytes, &u.Inserts)
	if err != nil {
		return u, fmt.Errorf("read what the uploads of %s wrote: %w", node, err)
	}
	return u, nil
}

func (st *Store) recordLastMerged(ctx context.Context, tx *sql.Tx, node string, number int64) error {
	_, err := tx.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_merge (node, last_merged) VALUES (%s, %s) ON CONFLICT (node) DO UPDATE SET last_merged = excluded.last_merged",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, number)
	if err != nil {
		return fmt.Errorf("record merge of %s upload %d: %w", node, number, err)
	}
	return nil
}

// NoteUpload records that a node's upload file is in its inbox, durable,
// waiting for a merger.
func (st *Store) NoteUpload(ctx context.Context, node string, number int64) error {
	_, err := st.write.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_inbox (node, number) VALUES (%s, %s) ON CONFLICT (node, number) DO NOTHING",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, number)
	if err != nil {
		return fmt.Errorf("record upload %d of %s: %w", number, node, err)
	}
	return nil
}

// LastReceived returns the number of the node's last upload the server
// holds or has merged (0 before any).
func (st *Store) LastReceived(ctx context.Context, node string) (int64, error) {
	last, err := st.LastMerged(ctx, node)
	if err != nil {
		return 0, err
	}
	var waiting sql.NullInt64
	err = st.read.QueryRowContext(ctx, "SELECT MAX(number) FROM fs_inbox WHERE node = "+st.d.Placeholder(1), node).Scan(&waiting)
	if err != nil {
		return 0, fmt.Errorf("read uploads of %s: %w", node, err)
	}
	return max(last, waiting.Int64), nil
}

// UploadingNodes lists the nodes with uploads waiting for a merger.
func (st *Store) UploadingNodes(ctx context.Context) ([]string, error) {
	names, err := QueryStrings(ctx, st.read, "SELECT DISTINCT node FROM fs_inbox ORDER BY node")
	if err != nil {
		return nil, fmt.Errorf("list nodes with uploads waiting: %w", err)
	}
	return names, nil
}

// ClearUploads forgets a node's waiting uploads numbered up to upTo: they
// are merged or refused.
func (st *Store) ClearUploads(ctx context.Context, node string, upTo int64) error {
	return st.clearUploads(ctx, st.write, node, upTo)
}

func (st *Store) clearUploads(ctx context.Context, q Querier, node string, upTo int64) error {
	_, err := q.ExecContext(ctx, fmt.Sprintf("DELETE FROM fs_inbox WHERE node = %s AND number <= %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, upTo)
	if err != nil {
		return fmt.Errorf("clear merged uploads of %s: %w", node, err)
	}
	return nil
}

// RecordRefused records that a node's upload was refused, and why, and
// counts it as merged so the node's next uploads go on. The upload stays
// listed as waiting until ClearUploads: the merger clears it once the
// file is set aside.
func (st *Store) RecordRefused(ctx context.Context, node string, number int64, reason string) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO fs_refused (node, number, reason, at) VALUES (%s) ON CONFLICT (node, number) DO UPDATE SET reason = excluded.reason",
			st.placeholders(4)), node, number, storableText(reason), st.now().UnixNano())
		if err != nil {
			return err
		}
		return st.recordLastMerged(ctx, tx, node, number)
	})
}

// storableText is s as text both databases store: a reason may quote what
// a node sent, which need not be valid UTF-8 or free of NUL bytes.
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// Refused returns a node's refused uploads, newest last.
func (st *Store) Refused(ctx context.Context, node string) ([]fieldsync.Refusal, error) {
	rows, err := st.read.QueryContext(ctx, "SELECT number, reason, at FROM fs_refused WHERE node = "+st.d.Placeholder(1)+" ORDER BY number", node)
	if err != nil {
		return nil, fmt.Errorf("read refused uploads of %s: %w", node, err)
	}
	defer rows.Close()
	out := []fieldsync.Refusal{}
	for rows.Next() {
		var r fieldsync.Refusal
		var at int64
		if err := rows.Scan(&r.Number, &r.Reason, &at); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// recordConflict records a conflict inside the caller's transaction.
func (st *Store) recordConflict(ctx context.Context, tx Querier, c fieldsync.Conflict) error {
	var id int64
	if err := tx.QueryRowContext(ctx, "SELECT value FROM fs_seq WHERE name = 'conflict'"+st.d.LockClause()).Scan(&id); err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	id++
	if _, err := tx.ExecContext(ctx, "UPDATE fs_seq SET value = "+st.d.Placeholder(1)+" WHERE name = 'conflict'", id); err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	_, err := tx.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_conflict (id, node, upload, kind, tbl, row_id, field, winner, loser, change_no, reason, depends_on, at) VALUES (%s)", st.placeholders(13)),
		id, c.Node, c.Upload, string(c.Kind), c.Table, storableText(c.RowID), c.Field, storableText(c.Winner), storableText(c.Loser),
		c.Change, storableText(c.Reason), c.DependsOn, st.now().UnixNano())
	if err != nil {
		return fmt.Errorf("record conflict: %w", err)
	}
	return nil
}

// Conflicts returns the recorded conflicts, of one node or ("") of all,
// oldest first.
func (st *Store) Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error) {
	return st.conflicts(ctx, node, 0, -1)
}

// ConflictPage returns one page of the recorded conflicts, oldest first.
func (st *Store) ConflictPage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error) {
	limit := q.PageLimit()
	cs, err := st.conflicts(ctx, q.Node, q.After, limit+1)
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

// conflicts reads the conflicts of node ("": all) with ids above after,
// at most limit of them (-1: all).
func (st *Store) conflicts(ctx context.Context, node string, after int64, limit int) ([]fieldsync.Conflict, error) {
	q := "SELECT " + conflictColumns + " FROM fs_conflict WHERE id > " + st.d.Placeholder(1)
	args := []any{after}
	if node != "" {
		q += " AND node = " + st.d.Placeholder(2)
		args = append(args, node)
	}
	q += " ORDER BY id"
	if limit >= 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	return st.queryConflicts(ctx, q, args...)
}

const conflictColumns = "id, node, upload, kind, tbl, row_id, field, winner, loser, change_no, reason, depends_on, at"

// queryConflicts runs a query of conflictColumns from fs_conflict.
func (st *Store) queryConflicts(ctx context.Context, q string, args ...any) ([]fieldsync.Conflict, error) {
	rows, err := st.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read conflicts: %w", err)
	}
	defer rows.Close()
	out := []fieldsync.Conflict{}
	for rows.Next() {
		var c fieldsync.Conflict
		var kind string
		var at int64
		if err := rows.Scan(&c.ID, &c.Node, &c.Upload, &kind, &c.Table, &c.RowID, &c.Field, &c.Winner, &c.Loser,
			&c.Change, &c.Reason, &c.DependsOn, &at); err != nil {
			return nil, err
		}
		c.Kind = fieldsync.ConflictKind(kind)
		c.Time = time.Unix(0, at).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// Session returns one session, or ErrNotFound.
func (st *Store) Session(ctx context.Context, id string) (fieldsync.Session, error) {
	rows, err := st.read.QueryContext(ctx, `SELECT id, node, started, ended, up_files, up_bytes, down_files, down_bytes, result
		FROM fs_session WHERE id = `+st.d.Placeholder(1), id)
	if err != nil {
		return fieldsync.Session{}, fmt.Errorf("read session: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return fieldsync.Session{}, fieldsync.Errorf(fieldsync.ErrNotFound, "no session %q", id)
	}
	var s fieldsync.Session
	var started, ended int64
	if err := rows.Scan(&s.ID, &s.Node, &started, &ended, &s.UpFiles, &s.UpBytes, &s.DownFiles, &s.DownBytes, &s.Result); err != nil {
		return s, err
	}
	s.Started = time.Unix(0, started).UTC()
	if ended != 0 {
		s.Ended = time.Unix(0, ended).UTC()
	}
	return s, nil
}

// SaveSession records a session (again, as it goes on) and, when it ended,
// the node's last sync time.
func (st *Store) SaveSession(ctx context.Context, s fieldsync.Session) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		var ended int64
		if !s.Ended.IsZero() {
			ended = s.Ended.UnixNano()
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO fs_session (id, node, started, ended, up_files, up_bytes, down_files, down_bytes, result)
			VALUES (%s) ON CONFLICT (id) DO UPDATE SET ended = excluded.ended, up_files = excluded.up_files, up_bytes = excluded.up_bytes,
			down_files = excluded.down_files, down_bytes = excluded.down_bytes, result = excluded.result`, st.placeholders(9)),
			s.ID, s.Node, s.Started.UnixNano(), ended, s.UpFiles, s.UpBytes, s.DownFiles, s.DownBytes, s.Result)
		if err != nil {
			return fmt.Errorf("record session: %w", err)
		}
		if ended != 0 {
			_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET last_sync = %s WHERE name = %s", st.d.Placeholder(1), st.d.Placeholder(2)), ended, s.Node)
		}
		return err
	})
}

// Sessions returns a node's latest sessions, newest first.
func (st *Store) Sessions(ctx context.Context, node string, limit int) ([]fieldsync.Session, error) {
	return st.sessions(ctx, fmt.Sprintf(`SELECT %s FROM fs_session WHERE node = %s ORDER BY started DESC LIMIT %s`,
		sessionColumns, st.d.Placeholder(1), st.d.Placeholder(2)), node, limit)
}

// LastSessions returns every node's latest session, in one query however
// many nodes there are.
func (st *Store) LastSessions(ctx context.Context) (map[string]fieldsync.Session, error) {
	ss, err := st.sessions(ctx, `SELECT `+sessionColumns+` FROM fs_session WHERE (node, started) IN
		(SELECT node, MAX(started) FROM fs_session GROUP BY node)`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fieldsync.Session, len(ss))
	for _, s := range ss {
		if prev, ok := out[s.Node]; !ok || s.ID > prev.ID {
			out[s.Node] = s // two sessions started in the same nanosecond: either will do
		}
	}
	return out, nil
}

// PruneSessions deletes the records of sessions that ended before the
// given time, but never a node's latest session. It returns how many it
// deleted.
func (st *Store) PruneSessions(ctx context.Context, endedBefore time.Time) (int64, error) {
	res, err := st.write.ExecContext(ctx, fmt.Sprintf(`DELETE FROM fs_session WHERE ended <> 0 AND ended < %s
		AND started < (SELECT MAX(s.started) FROM fs_session s WHERE s.node = fs_session.node)`, st.d.Placeholder(1)), endedBefore.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return res.RowsAffected()
}

const sessionColumns = "id, node, started, ended, up_files, up_bytes, down_files, down_bytes, result"

func (st *Store) sessions(ctx context.Context, query string, args ...any) ([]fieldsync.Session, error) {
	rows, err := st.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read sessions: %w", err)
	}
	defer rows.Close()
	out := []fieldsync.Session{}
	for rows.Next() {
		var s fieldsync.Session
		var started, ended int64
		if err := rows.Scan(&s.ID, &s.Node, &started, &ended, &s.UpFiles, &s.UpBytes, &s.DownFiles, &s.DownBytes, &s.Result); err != nil {
			return nil, err
		}
		s.Started = time.Unix(0, started).UTC()
		if ended != 0 {
			s.Ended = time.Unix(0, ended).UTC()
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
