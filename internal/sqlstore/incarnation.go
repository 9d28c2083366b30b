package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/fieldsync/fieldsync"
)

// The server database's incarnation is a random id kept in fs_meta. It is
// made once, when the database is first opened by a server, and replaced
// only when an administrator declares the database restored from a backup
// (MarkRestored). Nodes learn it at every sync: a node that finds another
// one than it knew learns that the server lost what followed the backup,
// and sends again what it made since (docs/operations.md, "Backup and
// restore").

const keyIncarnation = "incarnation"

// Incarnation returns the database's incarnation, making one the first
// time it is asked for.
func (st *Store) Incarnation(ctx context.Context) (string, error) {
	v, ok, err := st.meta(ctx, st.read, keyIncarnation)
	if err != nil {
		return "", fmt.Errorf("read the database's incarnation: %w", err)
	}
	if ok {
		return v, nil
	}
	_, err = st.write.ExecContext(ctx, fmt.Sprintf("INSERT INTO fs_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
		st.d.Placeholder(1), st.d.Placeholder(2)), keyIncarnation, newIncarnation())
	if err != nil {
		return "", fmt.Errorf("record the database's incarnation: %w", err)
	}
	if v, _, err = st.meta(ctx, st.write, keyIncarnation); err != nil {
		return "", fmt.Errorf("read the database's incarnation: %w", err)
	}
	return v, nil
}

func newIncarnation() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Restored is what MarkRestored did.
type Restored struct {
	// Previous and Incarnation are the incarnations before and after.
	Previous, Incarnation string
	// Nodes are the nodes whose Database Extract is taken again (every
	// registered node: an inactive one's is taken when it is reactivated).
	Nodes []string
	// LogLast is the last transaction of the restored Transaction Log.
	LogLast int64
}

// MarkRestored declares the database restored from a backup, in one
// transaction: it gets a new incarnation, and every node a new Database
// Extract (its extract is forgotten, so the router sends it nothing until
// the new one is taken, and the outbox starts again from that one). The
// caller reconciles the docking folder with the database and makes sure
// no server process runs meanwhile.
func (st *Store) MarkRestored(ctx context.Context) (Restored, error) {
	var r Restored
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		prev, _, err := st.meta(ctx, tx, keyIncarnation)
		if err != nil {
			return err
		}
		r.Previous, r.Incarnation = prev, newIncarnation()
		if err := st.setMeta(ctx, tx, keyIncarnation, r.Incarnation); err != nil {
			return err
		}
		if r.Nodes, err = QueryStrings(ctx, tx, "SELECT name FROM fs_node ORDER BY name"); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET extract_seq = %s, extract_wanted = 1, extract_claimed = 0",
			st.d.Placeholder(1)), fieldsync.NoExtract)
		if err != nil {
			return err
		}
		ls, err := st.logState(ctx, tx)
		r.LogLast = ls.LastSeq
		if err != nil {
			return err
		}
		return st.bumpNodes(ctx, tx)
	})
	if err != nil {
		return r, fmt.Errorf("mark the database restored: %w", err)
	}
	return r, nil
}

// InboxNumbers lists the uploads of a node the database says are received
// and not merged yet (their files wait in the node's docking inbox).
func (st *Store) InboxNumbers(ctx context.Context, node string) ([]int64, error) {
	rows, err := st.read.QueryContext(ctx, "SELECT number FROM fs_inbox WHERE node = "+st.d.Placeholder(1)+" ORDER BY number", node)
	if err != nil {
		return nil, fmt.Errorf("list the uploads of %s waiting: %w", node, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ForgetInbox drops the record of a node's received upload whose file is
// gone (the docking folder put back is older than the database): the node
// still holds it, and sends it again.
func (st *Store) ForgetInbox(ctx context.Context, node string, number int64) error {
	_, err := st.write.ExecContext(ctx, fmt.Sprintf("DELETE FROM fs_inbox WHERE node = %s AND number = %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), node, number)
	if err != nil {
		return fmt.Errorf("forget upload %d of %s: %w", number, node, err)
	}
	return nil
}
