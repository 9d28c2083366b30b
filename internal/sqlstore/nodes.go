package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
)

const nodeCols = "name, employee_id, secret_hash, active, created, deactivated, extract_seq, extract_at, outbox_next, last_sync, folder, folder_at, extract_wanted"

// AddNode registers a node for an existing employee.
func (st *Store) AddNode(ctx context.Context, n fieldsync.Node, secretHash []byte) (fieldsync.Node, error) {
	if !fieldsync.ValidNodeName(n.Name) {
		return n, fieldsync.Errorf(fieldsync.ErrInvalid,
			"node name %q is not valid: use 1-63 lowercase letters, digits, _ or -, starting with a letter or digit", n.Name)
	}
	n.Active = true
	n.Created = st.now().UTC().Truncate(time.Microsecond)
	n.Deactivated = time.Time{}
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		if emp := st.Schema().Nodes.EmployeeTable; emp != "" {
			if _, err := st.getRow(ctx, tx, st.Schema().Table(emp), n.EmployeeID); errors.Is(err, fieldsync.ErrNotFound) {
				return fieldsync.Errorf(fieldsync.ErrNotFound, "no %s with id %q to register node %q for", emp, n.EmployeeID, n.Name)
			} else if err != nil {
				return err
			}
		}
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM fs_node WHERE name = "+st.d.Placeholder(1), n.Name).Scan(&one)
		if err == nil {
			return fieldsync.Errorf(fieldsync.ErrExists, "node %q already exists", n.Name)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(
			"INSERT INTO fs_node (name, employee_id, secret_hash, active, created, deactivated) VALUES (%s)", st.placeholders(6)),
			n.Name, n.EmployeeID, fmt.Sprintf("%x", secretHash), 1, n.Created.UnixNano(), 0)
		if err != nil {
			return err
		}
		return st.bumpNodes(ctx, tx)
	})
	if err != nil {
		return n, err
	}
	return n, nil
}

func (st *Store) bumpNodes(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE fs_seq SET value = value + 1 WHERE name = 'nodes'")
	return err
}

// Node returns a node and its secret hash, or ErrNodeUnknown.
func (st *Store) Node(ctx context.Context, name string) (fieldsync.Node, []byte, error) {
	nr, hash, err := st.nodeRouting(ctx, st.read, name)
	return nr.Node, hash, err
}

// NodeRouting returns one node with its routing state.
func (st *Store) NodeRouting(ctx context.Context, name string) (fieldsync.NodeRouting, error) {
	nr, _, err := st.nodeRouting(ctx, st.read, name)
	return nr, err
}

func (st *Store) nodeRouting(ctx context.Context, q Querier, name string) (fieldsync.NodeRouting, []byte, error) {
	if !fieldsync.ValidNodeName(name) { // no such node exists; the database need not see the text
		return fieldsync.NodeRouting{}, nil, fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+nodeCols+" FROM fs_node WHERE name = "+st.d.Placeholder(1), name)
	if err != nil {
		return fieldsync.NodeRouting{}, nil, fmt.Errorf("read node %s: %w", name, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fieldsync.NodeRouting{}, nil, err
		}
		return fieldsync.NodeRouting{}, nil, fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	return scanNode(rows)
}

func scanNode(rows *sql.Rows) (fieldsync.NodeRouting, []byte, error) {
	var n fieldsync.NodeRouting
	var hash string
	var active int
	var created, deactivated, extractAt, lastSync, folderAt, wanted int64
	if err := rows.Scan(&n.Name, &n.EmployeeID, &hash, &active, &created, &deactivated, &n.ExtractSeq, &extractAt, &n.OutboxNext, &lastSync,
		&n.Folder, &folderAt, &wanted); err != nil {
		return n, nil, fmt.Errorf("read node: %w", err)
	}
	n.Active, n.ExtractWanted = active != 0, wanted != 0
	if folderAt != 0 {
		n.FolderSince = time.Unix(0, folderAt).UTC()
	}
	n.Created = time.Unix(0, created).UTC()
	if deactivated != 0 {
		n.Deactivated = time.Unix(0, deactivated).UTC()
	}
	if extractAt != 0 {
		n.Extracted = time.Unix(0, extractAt).UTC()
	}
	if lastSync != 0 {
		n.LastSync = time.Unix(0, lastSync).UTC()
	}
	var h []byte
	if _, err := fmt.Sscanf(hash, "%x", &h); err != nil {
		return n, nil, fmt.Errorf("read node %s: bad secret hash", n.Name)
	}
	return n, h, nil
}

// ListNodes returns every registered node, by name.
func (st *Store) ListNodes(ctx context.Context) ([]fieldsync.Node, error) {
	_, nrs, err := st.RoutingNodes(ctx)
	if err != nil {
		return nil, err
	}
	nodes := make([]fieldsync.Node, len(nrs))
	for i, n := range nrs {
		nodes[i] = n.Node
	}
	return nodes, nil
}

// RoutingNodes returns every node with its routing state, and the nodes
// version read in the same transaction.
func (st *Store) RoutingNodes(ctx context.Context) (int64, []fieldsync.NodeRouting, error) {
	var version int64
	nodes := []fieldsync.NodeRouting{}
	err := st.Snapshot(ctx, func(s fieldsync.Snapshot) error {
		tx := s.(*snapshot).tx
		if err := tx.QueryRowContext(ctx, "SELECT value FROM fs_seq WHERE name = 'nodes'").Scan(&version); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+nodeCols+" FROM fs_node ORDER BY name")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, _, err := scanNode(rows)
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		}
		return rows.Err()
	})
	if err != nil {
		return 0, nil, fmt.Errorf("list nodes: %w", err)
	}
	return version, nodes, nil
}

// NodesVersion changes whenever a node is added, deactivated or extracted.
func (st *Store) NodesVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := st.read.QueryRowContext(ctx, "SELECT value FROM fs_seq WHERE name = 'nodes'").Scan(&v); err != nil {
		return 0, fmt.Errorf("read nodes version: %w", err)
	}
	return v, nil
}

// DeactivateNode stops a node from synchronizing; its data stays.
// Deactivating an inactive node changes nothing.
func (st *Store) DeactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	if !fieldsync.ValidNodeName(name) {
		return fieldsync.Node{}, fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	now := st.now().UTC().Truncate(time.Microsecond).UnixNano()
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET active = 0, deactivated = %s WHERE name = %s AND active = 1",
			st.d.Placeholder(1), st.d.Placeholder(2)), now, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return st.bumpNodes(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return fieldsync.Node{}, fmt.Errorf("deactivate node %s: %w", name, err)
	}
	n, _, err := st.Node(ctx, name)
	return n, err
}

// AddToken registers an API token's hash under a role; adding a known hash
// again changes nothing.
func (st *Store) AddToken(ctx context.Context, role string, hash []byte) error {
	_, err := st.write.ExecContext(ctx, fmt.Sprintf(
		"INSERT INTO fs_token (hash, role, created) VALUES (%s) ON CONFLICT (hash) DO NOTHING", st.placeholders(3)),
		fmt.Sprintf("%x", hash), role, st.now().UnixNano())
	if err != nil {
		return fmt.Errorf("add token: %w", err)
	}
	return nil
}

// TokenRole returns the role of the token with this hash, or ErrUnauthorized.
func (st *Store) TokenRole(ctx context.Context, hash []byte) (string, error) {
	var role string
	err := st.read.QueryRowContext(ctx, "SELECT role FROM fs_token WHERE hash = "+st.d.Placeholder(1), fmt.Sprintf("%x", hash)).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fieldsync.Errorf(fieldsync.ErrUnauthorized, "invalid token")
	}
	if err != nil {
		return "", fmt.Errorf("check token: %w", err)
	}
	return role, nil
}

// RequestExtract asks for a node's Database Extract; a process running the
// Database Extract takes it (WantedExtracts lists the requests).
func (st *Store) RequestExtract(ctx context.Context, node string) error {
	if !fieldsync.ValidNodeName(node) {
		return fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", node)
	}
	res, err := st.write.ExecContext(ctx, "UPDATE fs_node SET extract_wanted = 1 WHERE name = "+st.d.Placeholder(1), node)
	if err != nil {
		return fmt.Errorf("request extract of %s: %w", node, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", node)
	}
	return nil
}

// WantedExtracts lists the active nodes whose extract was asked for and
// that no live Database Extract process is taking.
func (st *Store) WantedExtracts(ctx context.Context) ([]string, error) {
	names, err := QueryStrings(ctx, st.read, fmt.Sprintf(
		"SELECT name FROM fs_node WHERE active = 1 AND (extract_wanted = 1 OR (extract_wanted = 2 AND extract_claimed < %s)) ORDER BY name",
		st.d.Placeholder(1)), st.now().Add(-fieldsync.ExtractLease).UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list wanted extracts: %w", err)
	}
	return names, nil
}

// ClaimExtract claims a node's extract for the calling process, which is
// about to take it: the claim is the time it was made or last renewed,
// which also tells the holder's claim from a later one.
func (st *Store) ClaimExtract(ctx context.Context, node string) (int64, bool, error) {
	now := st.now().UnixNano()
	res, err := st.write.ExecContext(ctx, fmt.Sprintf(
		"UPDATE fs_node SET extract_wanted = 2, extract_claimed = %s WHERE name = %s AND (extract_wanted <> 2 OR extract_claimed < %s)",
		st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3)), now, node, now-int64(fieldsync.ExtractLease))
	if err != nil {
		return 0, false, fmt.Errorf("claim extract of %s: %w", node, err)
	}
	n, err := res.RowsAffected()
	return now, n == 1, err
}

// RenewExtract renews a claim: the claim's value is the time it was made
// or last renewed, so a renewal replaces it.
func (st *Store) RenewExtract(ctx context.Context, node string, claim int64) (int64, bool, error) {
	now := max(st.now().UnixNano(), claim+1)
	ok, err := st.claimUpdate(ctx, st.write, "renew", node, claim, "extract_claimed = "+st.d.Placeholder(4), now)
	return now, ok, err
}

// ReleaseExtract gives back a claimed extract that failed, for a later try.
func (st *Store) ReleaseExtract(ctx context.Context, node string, claim int64) error {
	_, err := st.claimUpdate(ctx, st.write, "release", node, claim, "extract_wanted = "+st.d.Placeholder(4), 1)
	return err
}

// ExtractTaken records that a node's extract file, taken at seq, is
// durable: the node's extract is seq from now on, and the claim is done. A
// request made while it was being built stays, for a newer extract.
func (st *Store) ExtractTaken(ctx context.Context, node string, claim, seq int64) error {
	return st.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET extract_seq = %s, extract_at = %s WHERE name = %s AND extract_seq <= %s",
			st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3), st.d.Placeholder(1)), seq, st.now().UnixNano(), node)
		if err != nil {
			return fmt.Errorf("record extract of %s: %w", node, err)
		}
		if _, err := st.claimUpdate(ctx, tx, "end", node, claim, "extract_wanted = "+st.d.Placeholder(4), 0); err != nil {
			return err
		}
		return st.bumpNodes(ctx, tx)
	})
}

// claimUpdate runs "UPDATE fs_node SET set WHERE the node's claim is
// claim", with arg as the set clause's parameter 4, and reports whether the
// claim was still the node's.
func (st *Store) claimUpdate(ctx context.Context, q Querier, what, node string, claim int64, set string, arg any) (bool, error) {
	res, err := q.ExecContext(ctx, fmt.Sprintf(
		"UPDATE fs_node SET %s WHERE name = %s AND extract_wanted = %s AND extract_claimed = %s",
		set, st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3)), node, 2, claim, arg)
	if err != nil {
		return false, fmt.Errorf("%s extract claim of %s: %w", what, node, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetNodeSecret replaces a node's secret hash.
func (st *Store) SetNodeSecret(ctx context.Context, name string, secretHash []byte) error {
	if !fieldsync.ValidNodeName(name) {
		return fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	res, err := st.write.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET secret_hash = %s WHERE name = %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), fmt.Sprintf("%x", secretHash), name)
	if err != nil {
		return fmt.Errorf("reset secret of %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	return nil
}

// RevokeTokens removes every token of the role but the one with hash keep.
func (st *Store) RevokeTokens(ctx context.Context, role string, keep []byte) (int, error) {
	res, err := st.write.ExecContext(ctx, fmt.Sprintf("DELETE FROM fs_token WHERE role = %s AND hash <> %s",
		st.d.Placeholder(1), st.d.Placeholder(2)), role, fmt.Sprintf("%x", keep))
	if err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// OutboxNexts returns the next outbox file numbers of the named nodes
// (those registered), in one query per 500 names.
func (st *Store) OutboxNexts(ctx context.Context, nodes []string) (map[string]int64, error) {
	out := map[string]int64{}
	for len(nodes) > 0 {
		chunk := nodes[:min(len(nodes), 500)]
		nodes = nodes[len(chunk):]
		args := make([]any, len(chunk))
		for i, n := range chunk {
			args[i] = n
		}
		rows, err := st.read.QueryContext(ctx, "SELECT name, outbox_next FROM fs_node WHERE name IN ("+st.placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("read outbox numbering: %w", err)
		}
		for rows.Next() {
			var name string
			var next int64
			if err := rows.Scan(&name, &next); err != nil {
				rows.Close()
				return nil, err
			}
			out[name] = next
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ClaimFolder makes folder the node's current folder (a client init) and
// returns the node as it was. When the node had another folder, a new
// Database Extract is asked for in the same transaction: the new folder
// starts from an extract taken for it, never from the older folder's.
func (st *Store) ClaimFolder(ctx context.Context, node, folder string) (fieldsync.NodeRouting, error) {
	var before fieldsync.NodeRouting
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if before, _, err = st.nodeRouting(ctx, tx, node); err != nil {
			return err
		}
		if before.Folder == folder {
			return nil
		}
		set := "folder = %s, folder_at = %s"
		if before.Folder != "" {
			set += ", extract_wanted = 1"
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE fs_node SET "+set+" WHERE name = %s",
			st.d.Placeholder(1), st.d.Placeholder(2), st.d.Placeholder(3)), folder, st.now().UnixNano(), node)
		if err != nil {
			return fmt.Errorf("record the folder of node %s: %w", node, err)
		}
		return st.bumpNodes(ctx, tx)
	})
	return before, err
}

// ReactivateNode lets a deactivated node synchronize again, with its
// secret and its folder as they were, and asks for its Database Extract in
// the same transaction: the router delivered the node nothing while it was
// inactive, so it starts again from a new extract (its client keeps its
// changes not yet merged). Reactivating an active node changes nothing.
func (st *Store) ReactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	if !fieldsync.ValidNodeName(name) {
		return fieldsync.Node{}, fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE fs_node SET active = 1, deactivated = 0, extract_wanted = 1 WHERE active = 0 AND name = "+st.d.Placeholder(1), name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return st.bumpNodes(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return fieldsync.Node{}, fmt.Errorf("reactivate node %s: %w", name, err)
	}
	n, _, err := st.Node(ctx, name)
	return n, err
}

// nodeTables are the tables of the server's own state about a node, each
// keyed by its node column: what DeleteNode removes besides the
// registration. The rows a deleted node inserted become the server's
// (fs_owner), and the records of damaged files (fs_recovery) stay.
var nodeTables = []string{"fs_merge", "fs_refused", "fs_conflict", "fs_session", "fs_upload", "fs_inbox", "fs_merging", "fs_merge_stop", "fs_owner"}

// DeleteNode removes a node's registration and the server's state about it
// (merging, refusals, conflicts, sessions) in one transaction: its secret
// stops working at once, and the name may be registered again from a
// clean start. It returns the node as it was, or ErrNodeUnknown.
func (st *Store) DeleteNode(ctx context.Context, name string) (fieldsync.Node, error) {
	var before fieldsync.NodeRouting
	err := st.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		if before, _, err = st.nodeRouting(ctx, tx, name); err != nil {
			return err
		}
		for _, t := range append(nodeTables, "fs_node") {
			col := "node"
			if t == "fs_node" {
				col = "name"
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = %s", t, col, st.d.Placeholder(1)), name); err != nil {
				return fmt.Errorf("delete node %s from %s: %w", name, t, err)
			}
		}
		return st.bumpNodes(ctx, tx)
	})
	return before.Node, err
}
