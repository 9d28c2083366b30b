package server

import (
	"context"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/extract"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// Admin administers a server in-process: what the HTTP API's
// administrator and record endpoints do (docs/api.md), for a program that
// embeds the server, with no HTTP and no token. Records change through the
// one write path as a connected user's do, so they reach the nodes that see
// them.
type Admin struct{ s *Server }

// Admin returns the server's in-process administration.
func (s *Server) Admin() *Admin { return &Admin{s: s} }

// AddedNode is a node just registered.
type AddedNode struct {
	Node fieldsync.Node
	// Secret is the node's secret, for its client's Config.Secret: it is
	// known only now (the server keeps its hash).
	Secret string
	// Extract is the node's Database Extract, taken at registration when
	// this server runs the Database Extract; nil otherwise.
	Extract *extract.Result
	// ExtractRequested: this server does not run the Database Extract and
	// asked a process that does for the extract.
	ExtractRequested bool
	// ExtractErr says why the extract was neither taken nor asked for. The
	// node is registered all the same, and the Database Extract tries again.
	ExtractErr error
}

func (a *Admin) extracts() admin.Extracts[extract.Result] {
	ex := admin.Extracts[extract.Result]{Request: a.s.st.RequestExtract}
	if a.s.Runs(Extract) {
		ex.Take = a.s.takeExtract
	}
	return ex
}

// AddNode registers a node for an employee, with a new secret, and takes
// (or asks for) its Database Extract, which the node's client starts from.
func (a *Admin) AddNode(ctx context.Context, name, employeeID string) (AddedNode, error) {
	added, err := admin.AddNode(ctx, a.s.st, a.extracts(), a.s.log.With("component", "admin"), name, employeeID)
	if err != nil {
		return AddedNode{}, err
	}
	out := AddedNode{Node: added.Node, Secret: added.Secret, ExtractRequested: added.Requested, ExtractErr: added.ExtractErr}
	if added.Taken {
		out.Extract = &added.Extract
	}
	return out, nil
}

// Node returns a registered node.
func (a *Admin) Node(ctx context.Context, name string) (fieldsync.Node, error) {
	n, _, err := a.s.st.Node(ctx, name)
	return n, err
}

// ListNodes returns every registered node.
func (a *Admin) ListNodes(ctx context.Context) ([]fieldsync.Node, error) {
	return a.s.st.ListNodes(ctx)
}

// DeactivateNode stops a node from synchronizing; its data stays.
func (a *Admin) DeactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	n, err := a.s.st.DeactivateNode(ctx, name)
	if err == nil {
		a.s.log.Info("node deactivated", "component", "admin", "node", n.Name)
	}
	return n, err
}

// ResumeNode merges again the uploads of a node whose merging a refusal
// stopped (fieldsync server --on-refusal stop).
func (a *Admin) ResumeNode(ctx context.Context, name string) (fieldsync.Node, error) {
	n, _, err := a.s.st.Node(ctx, name)
	if err != nil {
		return n, err
	}
	if err := a.s.st.ResumeMerging(ctx, name); err != nil {
		return n, err
	}
	a.s.log.Info("node resumed", "component", "admin", "node", n.Name)
	signal(a.s.merge)
	return n, nil
}

// ReactivateNode lets a deactivated node synchronize again, and asks for
// its Database Extract (it was routed nothing while inactive).
func (a *Admin) ReactivateNode(ctx context.Context, name string) (fieldsync.Node, error) {
	n, err := a.s.st.ReactivateNode(ctx, name)
	if err == nil {
		a.s.log.Info("node reactivated", "component", "admin", "node", n.Name)
	}
	return n, err
}

// DeleteNode removes a node's registration, the server's state about it
// and its docking folder; an active node only with force. It returns the
// node as it was.
func (a *Admin) DeleteNode(ctx context.Context, name string, force bool) (fieldsync.Node, error) {
	n, _, err := admin.DeleteNode(ctx, a.s.st, a.s.docking.Node(name), a.s.log.With("component", "admin"), name, force)
	return n, err
}

// Sessions returns the latest synchronization sessions of a node, or ("")
// of every node, newest first.
func (a *Admin) Sessions(ctx context.Context, node string, limit int) ([]fieldsync.Session, error) {
	if node == "" {
		return a.s.st.RecentSessions(ctx, limit)
	}
	if _, _, err := a.s.st.Node(ctx, node); err != nil {
		return nil, err
	}
	return a.s.st.Sessions(ctx, node, limit)
}

// RefusedUploads returns the uploads the Transaction Merger refused whole,
// of a node or ("") of every node; RefusedChangePage one page of the
// changes it refused alone.
func (a *Admin) RefusedUploads(ctx context.Context, node string) ([]fieldsync.Refusal, error) {
	return a.s.st.RefusedUploads(ctx, node)
}

// RefusedChangePage: see RefusedUploads.
func (a *Admin) RefusedChangePage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error) {
	return a.s.st.RefusedChangePage(ctx, q)
}

// ResetSecret gives a node a new secret, for its client's Config.Secret,
// and returns it; the old one stops working at once.
func (a *Admin) ResetSecret(ctx context.Context, name string) (string, error) {
	return admin.ResetSecret(ctx, a.s.st, a.s.log.With("component", "admin"), name)
}

// Reextract takes a new Database Extract of a node, which rebuilds its
// local data at its next sync. A server that does not run the Database
// Extract asks a process that does, and returns a nil result.
func (a *Admin) Reextract(ctx context.Context, name string) (*extract.Result, error) {
	res, requested, err := admin.Reextract(ctx, a.s.st, a.extracts(), name)
	if err != nil || requested {
		return nil, err
	}
	return &res, nil
}

// ReextractAll asks the Database Extract for a new extract of every active
// node (taken in the background) and returns their names.
func (a *Admin) ReextractAll(ctx context.Context) ([]string, error) {
	return admin.ReextractAll(ctx, a.s.st, a.extracts(), a.s.log.With("component", "admin"))
}

// Status returns the administrator's view: backlogs of the log, the
// processor and the routers, and each node's state.
func (a *Admin) Status(ctx context.Context) (fieldsync.Status, error) { return a.s.status(ctx) }

// Conflicts returns the conflicts the Transaction Merger recorded, of one
// node or ("") of all, oldest first.
func (a *Admin) Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error) {
	return a.s.st.Conflicts(ctx, node)
}

// ConflictPage returns one page of them: q.Limit (100 when 0) after
// q.After; Next says where the next page starts, 0 after the last.
func (a *Admin) ConflictPage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error) {
	return a.s.st.ConflictPage(ctx, q)
}

// Create inserts a row as a connected user (vals may hold its id) and
// returns it as stored.
func (a *Admin) Create(ctx context.Context, table string, vals map[string]any) (fieldsync.Row, error) {
	return admin.Create(ctx, a.s.st, table, vals)
}

// Get returns a row.
func (a *Admin) Get(ctx context.Context, table, id string) (fieldsync.Row, error) {
	return a.s.st.Get(ctx, table, id)
}

// List returns one page of a table's rows.
func (a *Admin) List(ctx context.Context, table string, q fieldsync.Query) (fieldsync.Page, error) {
	return a.s.st.List(ctx, table, q)
}

// Update sets columns of a row as a connected user and returns the row.
func (a *Admin) Update(ctx context.Context, table, id string, vals map[string]any) (fieldsync.Row, error) {
	return admin.Update(ctx, a.s.st, table, id, vals)
}

// Apply applies several changes as a connected user in one transaction,
// all of them or none (a refused change is named by its place), and
// returns the transactions logged.
func (a *Admin) Apply(ctx context.Context, changes ...fieldsync.Change) ([]fieldsync.Txn, error) {
	return a.s.st.Apply(ctx, "", changes...)
}

// Delete deletes a row as a connected user (with the rows the schema says
// go with it) and returns how many rows were deleted or changed.
func (a *Admin) Delete(ctx context.Context, table, id string) (int, error) {
	return admin.Delete(ctx, a.s.st, table, id)
}
