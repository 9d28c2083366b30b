// Package admin is what an administrator's requests do, written once for
// the HTTP API (package api) and the in-process administration of an
// embedded server (server.Admin): register a node with its secret and its
// Database Extract, take or ask for new extracts, and change records
// through the one write path.
package admin

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/fieldsync/fieldsync"
)

// Store is what administration needs of the server database.
type Store interface {
	fieldsync.Writer
	fieldsync.Reader
	fieldsync.Nodes
}

// Extracts is how a server gets a node's Database Extract, R being what
// taking one returns: Take takes it in this process (nil when the process
// does not run the Database Extract), Request asks a Database Extract
// process for it (nil when none can be asked).
type Extracts[R any] struct {
	Take    func(ctx context.Context, node string) (R, error)
	Request func(ctx context.Context, node string) error
}

// Added is a node just registered.
type Added[R any] struct {
	Node fieldsync.Node
	// Secret is the node's secret, known only now: the server keeps its hash.
	Secret string
	// Extract is the extract taken at registration, when Taken.
	Extract R
	Taken   bool
	// Requested: the extract was asked of a Database Extract process.
	Requested bool
	// ExtractErr says why neither happened; the node is registered anyway.
	ExtractErr error
}

// AddNode registers a node for an employee with a new secret, then takes
// its extract, or asks for it. A failed extract does not undo the
// registration (the secret would be lost): it is reported in ExtractErr,
// and the Database Extract tries again in the background.
func AddNode[R any](ctx context.Context, st Store, ex Extracts[R], log *slog.Logger, name, employeeID string) (Added[R], error) {
	if name == "" || employeeID == "" {
		return Added[R]{}, fieldsync.Errorf(fieldsync.ErrInvalid, "a node needs a name and an employee_id")
	}
	secret := fieldsync.NewSecret()
	n, err := st.AddNode(ctx, fieldsync.Node{Name: name, EmployeeID: employeeID}, fieldsync.HashSecret(secret))
	if err != nil {
		return Added[R]{}, err
	}
	log.Info("node added", "node", n.Name, "employee", n.EmployeeID)
	out := Added[R]{Node: n, Secret: secret}
	switch {
	case ex.Take != nil:
		res, err := ex.Take(ctx, n.Name)
		if err != nil {
			log.Error("extract at registration failed", "node", n.Name, "err", err)
			out.ExtractErr = fmt.Errorf("the node's extract failed (%w); it is tried again in the background (see fieldsync admin status, or take it with fieldsync admin node reextract %s)", err, n.Name)
		} else {
			out.Extract, out.Taken = res, true
		}
		if n2, _, err := st.Node(ctx, n.Name); err == nil {
			out.Node = n2 // with the time of its extract
		}
	case ex.Request != nil:
		if err := ex.Request(ctx, n.Name); err != nil {
			out.ExtractErr = fmt.Errorf("could not ask for the node's extract (%w); ask with fieldsync admin node reextract %s", err, n.Name)
		} else {
			out.Requested = true
		}
	}
	return out, nil
}

// Reextract takes a new extract of a node, or, in a process without the
// Database Extract, asks for one (requested true).
func Reextract[R any](ctx context.Context, st Store, ex Extracts[R], name string) (res R, requested bool, err error) {
	n, _, err := st.Node(ctx, name)
	if err != nil {
		return res, false, err
	}
	if ex.Take != nil {
		res, err = ex.Take(ctx, n.Name)
		return res, false, err
	}
	if ex.Request == nil {
		return res, false, fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
	}
	if !n.Active {
		return res, false, fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", n.Name)
	}
	return res, true, ex.Request(ctx, n.Name)
}

// ReextractAll asks the Database Extract for a new extract of every active
// node (after a change of the schema's visibility rules or tables, say),
// and returns their names.
func ReextractAll[R any](ctx context.Context, st Store, ex Extracts[R], log *slog.Logger) ([]string, error) {
	if ex.Request == nil {
		return nil, fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
	}
	nodes, err := st.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	requested := []string{}
	for _, n := range nodes {
		if !n.Active {
			continue
		}
		if err := ex.Request(ctx, n.Name); err != nil {
			return requested, err
		}
		requested = append(requested, n.Name)
	}
	log.Info("extracts of every active node requested", "nodes", len(requested))
	return requested, nil
}

// Create inserts a row as a connected user and returns it as stored.
func Create(ctx context.Context, st Store, table string, vals map[string]any) (fieldsync.Row, error) {
	txns, err := st.Apply(ctx, "", fieldsync.Insert(table, vals))
	if err != nil {
		return nil, err
	}
	if len(txns) == 0 {
		return nil, fmt.Errorf("insert into %s logged no transaction", table)
	}
	return st.Get(ctx, table, txns[0].RowID)
}

// Update sets columns of a row as a connected user and returns the row.
func Update(ctx context.Context, st Store, table, id string, vals map[string]any) (fieldsync.Row, error) {
	if _, err := st.Apply(ctx, "", fieldsync.Update(table, id, vals)); err != nil {
		return nil, err
	}
	return st.Get(ctx, table, id)
}

// Delete deletes a row as a connected user (and, as the schema says, the
// rows that depend on it) and returns how many rows it changed.
func Delete(ctx context.Context, st Store, table, id string) (int, error) {
	txns, err := st.Apply(ctx, "", fieldsync.Delete(table, id))
	return len(txns), err
}

// ResetSecret gives a node a new secret (its old one stops working at
// once) and returns it: it is known only now. A node whose secret was lost
// (a registration whose answer never arrived, a laptop reinstalled without
// its folder) is not lost with it.
func ResetSecret(ctx context.Context, st Store, log *slog.Logger, name string) (string, error) {
	secret := fieldsync.NewSecret()
	if err := st.SetNodeSecret(ctx, name, fieldsync.HashSecret(secret)); err != nil {
		return "", err
	}
	log.Info("node secret reset", "node", name)
	return secret, nil
}

// Deleter is what deleting a node needs of the server database.
type Deleter interface {
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	DeleteNode(ctx context.Context, name string) (fieldsync.Node, error)
}

// DeleteNode removes a node's registration and the server's state about
// it, then its docking folder dir ("": none to remove). An active node is
// deleted only with force. It returns the node as it was, and whether its
// folder was there.
func DeleteNode(ctx context.Context, st Deleter, dir string, log *slog.Logger, name string, force bool) (fieldsync.Node, bool, error) {
	if !fieldsync.ValidNodeName(name) { // a name that is no node's never reaches the filesystem
		return fieldsync.Node{}, false, fieldsync.Errorf(fieldsync.ErrNodeUnknown, "unknown node %q", name)
	}
	n, _, err := st.Node(ctx, name)
	if err != nil {
		return n, false, err
	}
	if n.Active && !force {
		return n, false, fieldsync.Errorf(fieldsync.ErrInUse, "node %q is active: deactivate it first, or delete it with force", name)
	}
	if n, err = st.DeleteNode(ctx, name); err != nil {
		return n, false, err
	}
	removed := false
	if dir != "" {
		if _, err := os.Lstat(dir); err == nil {
			removed = true
		}
		if err := os.RemoveAll(dir); err != nil {
			return n, false, fmt.Errorf("node %s deleted, but its docking folder stays: %w", name, err)
		}
	}
	log.Info("node deleted", "node", name, "was_active", n.Active, "folder_removed", removed)
	return n, removed, nil
}
