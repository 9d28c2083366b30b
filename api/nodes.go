package api

import (
	"net/http"
	"strconv"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// NewNode is the body of a node registration.
type NewNode struct {
	Name       string `json:"name"`
	EmployeeID string `json:"employee_id"`
}

// AddedNode is the answer to a node registration: the secret is shown
// this once; the server keeps only its hash.
type AddedNode struct {
	Node    fieldsync.Node `json:"node"`
	Secret  string         `json:"secret"`
	Extract any            `json:"extract,omitempty"`
	// ExtractError says why the extract taken at registration failed.
	ExtractError string `json:"extract_error,omitempty"`
}

// extracts is how this handler gets a node's Database Extract.
func (h *handler) extracts() admin.Extracts[any] {
	return admin.Extracts[any]{Take: h.opts.Extract, Request: h.opts.RequestExtract}
}

func (h *handler) addNode(w http.ResponseWriter, r *http.Request) error {
	var req NewNode
	if err := readObject(r, &req); err != nil {
		return err
	}
	added, err := admin.AddNode(r.Context(), h.st, h.extracts(), h.log, req.Name, req.EmployeeID)
	if err != nil {
		return err
	}
	out := AddedNode{Node: added.Node, Secret: added.Secret, Extract: added.Extract}
	if added.Requested {
		out.Extract = map[string]any{"node": added.Node.Name, "requested": true}
	}
	if added.ExtractErr != nil {
		out.ExtractError = added.ExtractErr.Error()
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (h *handler) listNodes(w http.ResponseWriter, r *http.Request) error {
	nodes, err := h.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
	return nil
}

func (h *handler) getNode(w http.ResponseWriter, r *http.Request) error {
	n, _, err := h.st.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if n.MergeStopped, err = h.st.MergeStopped(r.Context(), n.Name); err != nil {
		return err
	}
	if n.Errors, err = h.nodeErrors(r.Context(), n.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (h *handler) deactivate(w http.ResponseWriter, r *http.Request) error {
	n, err := h.st.DeactivateNode(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h.log.Info("node deactivated", "node", n.Name)
	writeJSON(w, http.StatusOK, n)
	return nil
}

// resume merges again the uploads of a node a refusal stopped
// (fieldsync server --on-refusal stop).
func (h *handler) resume(w http.ResponseWriter, r *http.Request) error {
	n, _, err := h.st.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := h.st.ResumeMerging(r.Context(), n.Name); err != nil {
		return err
	}
	h.log.Info("node resumed", "node", n.Name)
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (h *handler) reextract(w http.ResponseWriter, r *http.Request) error {
	res, requested, err := admin.Reextract(r.Context(), h.st, h.extracts(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if requested {
		writeJSON(w, http.StatusAccepted, map[string]any{"node": r.PathValue("name"), "requested": true})
		return nil
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// reextractAll asks the Database Extract for a new extract of every active
// node (after a change of the schema's visibility rules or tables, say).
func (h *handler) reextractAll(w http.ResponseWriter, r *http.Request) error {
	requested, err := admin.ReextractAll(r.Context(), h.st, h.extracts(), h.log)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"requested": requested})
	return nil
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Status == nil {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not report status")
	}
	s, err := h.opts.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// conflicts answers one page of the recorded conflicts (?node, ?after,
// ?limit: 100 by default, 1000 at most), with the after of the next page
// ("next") when more follow.
func (h *handler) conflicts(w http.ResponseWriter, r *http.Request) error {
	q := fieldsync.ConflictQuery{Node: r.URL.Query().Get("node")}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "after %q is not a conflict id", v)
		}
		q.After = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > fieldsync.MaxConflictPage {
			return fieldsync.Errorf(fieldsync.ErrInvalid, "limit %q is not a number from 1 to %d", v, fieldsync.MaxConflictPage)
		}
		q.Limit = n
	}
	page, err := h.st.ConflictPage(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// NewSecret is the answer to a secret reset: the node's new secret, shown
// only now.
type NewSecret struct {
	Node   string `json:"node"`
	Secret string `json:"secret"`
}

func (h *handler) resetSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	secret, err := admin.ResetSecret(r.Context(), h.st, h.log, name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, NewSecret{Node: name, Secret: secret})
	return nil
}
