package api

import (
	"fmt"
	"net/http"

	"github.com/fieldsync/fieldsync"
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

func (h *handler) addNode(w http.ResponseWriter, r *http.Request) error {
	var req NewNode
	if err := readObject(r, &req); err != nil {
		return err
	}
	if req.Name == "" || req.EmployeeID == "" {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "a node needs a name and an employee_id")
	}
	secret := fieldsync.NewSecret()
	n, err := h.st.AddNode(r.Context(), fieldsync.Node{Name: req.Name, EmployeeID: req.EmployeeID}, fieldsync.HashSecret(secret))
	if err != nil {
		return err
	}
	h.log.Info("node added", "node", n.Name, "employee", n.EmployeeID)
	out := AddedNode{Node: n, Secret: secret}
	if h.opts.Extract == nil && h.opts.RequestExtract != nil {
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			out.ExtractError = fmt.Sprintf("could not ask for the node's extract (%v); ask with fieldsync admin node reextract %s", err, n.Name)
		} else {
			out.Extract = map[string]any{"node": n.Name, "requested": true}
		}
	}
	if h.opts.Extract != nil {
		res, err := h.opts.Extract(r.Context(), n.Name)
		if err != nil {
			// The node exists and its secret is shown only now: answer with
			// it, and say the extract comes later (the Database Extract
			// tries again).
			h.log.Error("extract at registration failed", "node", n.Name, "err", err)
			out.ExtractError = fmt.Sprintf("the node's extract failed (%v); it is tried again in the background (see fieldsync admin status, or take it with fieldsync admin node reextract %s)", err, n.Name)
		} else {
			out.Extract = res
		}
		if n2, _, err := h.st.Node(r.Context(), n.Name); err == nil {
			out.Node = n2
		}
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

func (h *handler) reextract(w http.ResponseWriter, r *http.Request) error {
	n, _, err := h.st.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if h.opts.Extract == nil {
		if h.opts.RequestExtract == nil {
			return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
		}
		if !n.Active {
			return fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", n.Name)
		}
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			return err
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"node": n.Name, "requested": true})
		return nil
	}
	res, err := h.opts.Extract(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// reextractAll asks the Database Extract for a new extract of every active
// node (after a change of the schema's visibility rules or tables, say).
func (h *handler) reextractAll(w http.ResponseWriter, r *http.Request) error {
	if h.opts.RequestExtract == nil {
		return fieldsync.Errorf(fieldsync.ErrForbidden, "this server does not run the Database Extract")
	}
	nodes, err := h.st.ListNodes(r.Context())
	if err != nil {
		return err
	}
	requested := []string{}
	for _, n := range nodes {
		if !n.Active {
			continue
		}
		if err := h.opts.RequestExtract(r.Context(), n.Name); err != nil {
			return err
		}
		requested = append(requested, n.Name)
	}
	h.log.Info("extracts of every active node requested", "nodes", len(requested))
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

func (h *handler) conflicts(w http.ResponseWriter, r *http.Request) error {
	cs, err := h.st.Conflicts(r.Context(), r.URL.Query().Get("node"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"conflicts": cs})
	return nil
}
