package api

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// Operator is what the administrator's tools for sessions, refusals and
// the node lifecycle need of the server database.
type Operator interface {
	// Sessions returns a node's latest sessions, newest first;
	// RecentSessions those of every node.
	Sessions(ctx context.Context, node string, limit int) ([]fieldsync.Session, error)
	RecentSessions(ctx context.Context, limit int) ([]fieldsync.Session, error)
	// RefusedUploads returns the refused uploads of a node or ("") of
	// every node; RefusedChangePage a page of the changes refused alone.
	RefusedUploads(ctx context.Context, node string) ([]fieldsync.Refusal, error)
	RefusedChangePage(ctx context.Context, q fieldsync.ConflictQuery) (fieldsync.ConflictPage, error)
	// ReactivateNode lets a deactivated node synchronize again.
	ReactivateNode(ctx context.Context, name string) (fieldsync.Node, error)
	// DeleteNode removes a node's registration and the server's state
	// about it, and returns the node as it was.
	DeleteNode(ctx context.Context, name string) (fieldsync.Node, error)
}

// Sessions pages: how many GET /api/v1/admin/sessions answers unless
// asked otherwise, and at most.
const (
	DefaultSessions = 20
	MaxSessions     = 1000
)

// NodeErrors is how many of a node's latest failed sessions GET
// /api/v1/admin/nodes/{name} reports.
const NodeErrors = 3

// nodeErrorScan is how many of a node's latest sessions are looked through
// for its failed ones.
const nodeErrorScan = 50

// Refusals is the answer of GET /api/v1/admin/refusals: the uploads
// refused whole, and one page of the changes refused alone (Next: the
// after of the next page, 0 when this is the last).
type Refusals struct {
	Uploads []fieldsync.Refusal  `json:"uploads"`
	Changes []fieldsync.Conflict `json:"changes"`
	Next    int64                `json:"next,omitempty"`
}

// DeletedNode is the answer to a node's deletion: the node as it was, and
// whether its docking folder was there to remove.
type DeletedNode struct {
	Node          fieldsync.Node `json:"node"`
	FolderRemoved bool           `json:"folder_removed"`
}

// onlyParams refuses query parameters other than the named ones.
func onlyParams(r *http.Request, names ...string) error {
	for k := range r.URL.Query() {
		if !slices.Contains(names, k) {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown query parameter %q (this endpoint takes %s)", k, strings.Join(names, ", "))
		}
	}
	return nil
}

// queryNode is the ?node of a request, checked to name a registered node
// ("" when none is given).
func (h *handler) queryNode(r *http.Request) (string, error) {
	name := r.URL.Query().Get("node")
	if name == "" {
		return "", nil
	}
	_, _, err := h.st.Node(r.Context(), name)
	return name, err
}

// queryInt is the whole number of ?name from 1 to most (def when absent).
func queryInt(r *http.Request, name string, def, most int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > most {
		return 0, fieldsync.Errorf(fieldsync.ErrInvalid, "%s %q is not a number from 1 to %d", name, v, most)
	}
	return n, nil
}

// sessions answers the latest sessions (?node: of that node alone;
// ?limit: 20 by default, 1000 at most), newest first.
func (h *handler) sessions(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "node", "limit"); err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", DefaultSessions, MaxSessions)
	if err != nil {
		return err
	}
	node, err := h.queryNode(r)
	if err != nil {
		return err
	}
	var ss []fieldsync.Session
	if node != "" {
		ss, err = h.st.Sessions(r.Context(), node, limit)
	} else {
		ss, err = h.st.RecentSessions(r.Context(), limit)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": ss})
	return nil
}

// refusals answers the uploads refused whole and a page of the changes
// refused alone (?node, ?after, ?limit as GET /api/v1/admin/conflicts).
func (h *handler) refusals(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "node", "after", "limit"); err != nil {
		return err
	}
	q := fieldsync.ConflictQuery{}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "after %q is not a conflict id", v)
		}
		q.After = n
	}
	var err error
	if q.Limit, err = queryInt(r, "limit", fieldsync.DefaultConflictPage, fieldsync.MaxConflictPage); err != nil {
		return err
	}
	if q.Node, err = h.queryNode(r); err != nil {
		return err
	}
	var out Refusals
	if out.Uploads, err = h.st.RefusedUploads(r.Context(), q.Node); err != nil {
		return err
	}
	page, err := h.st.RefusedChangePage(r.Context(), q)
	if err != nil {
		return err
	}
	out.Changes, out.Next = page.Conflicts, page.Next
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) reactivate(w http.ResponseWriter, r *http.Request) error {
	n, err := h.st.ReactivateNode(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.log.Info("node reactivated", "node", n.Name)
	writeJSON(w, http.StatusOK, n)
	return nil
}

// deleteNode removes a node's registration and then its docking folder.
// An active node is deleted only with ?force=true.
func (h *handler) deleteNode(w http.ResponseWriter, r *http.Request) error {
	if err := onlyParams(r, "force"); err != nil {
		return err
	}
	force, err := strconv.ParseBool(cmp.Or(r.URL.Query().Get("force"), "false"))
	if err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "force %q is not true or false", r.URL.Query().Get("force"))
	}
	dir := ""
	if h.opts.Docking != "" {
		dir = h.opts.Docking.Node(r.PathValue("name"))
	}
	n, removed, err := admin.DeleteNode(r.Context(), h.st, dir, h.log, r.PathValue("name"), force)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, DeletedNode{Node: n, FolderRemoved: removed})
	return nil
}

// nodeErrors are the results of a node's latest sessions that failed,
// newest first, at most NodeErrors of them.
func (h *handler) nodeErrors(ctx context.Context, name string) ([]fieldsync.Session, error) {
	ss, err := h.st.Sessions(ctx, name, nodeErrorScan)
	if err != nil && !errors.Is(err, fieldsync.ErrNotFound) {
		return nil, err
	}
	var out []fieldsync.Session
	for _, s := range ss {
		if !s.Ended.IsZero() && !sessionOK(s.Result) && len(out) < NodeErrors {
			out = append(out, s)
		}
	}
	return out, nil
}

// sessionOK says whether a session's result is no error: "ok", "ok:" and
// what went well ("ok: nothing new"), "extract" (a client init), or
// "replaced by a newer session" (the node opened another). Anything else
// ("failed: ...", "abandoned", or whatever a node reported) is one.
func sessionOK(result string) bool {
	return result == "ok" || strings.HasPrefix(result, "ok:") || result == "extract" || result == "replaced by a newer session"
}
