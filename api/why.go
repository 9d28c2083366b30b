package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// Why is the answer of GET /api/v1/admin/nodes/{name}/why/{table}/{id}:
// why the node sees, or does not see, the row (docs/schema.md "Why does a
// node (not) see a row").
type Why = admin.Why

// why explains a row's visibility to a node.
func (h *handler) why(w http.ResponseWriter, r *http.Request) error {
	for k := range r.URL.Query() {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown query parameter %q (this endpoint takes none)", k)
	}
	out, err := admin.Explain(r.Context(), h.st, r.PathValue("name"), r.PathValue("table"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// Why says why a node sees, or does not see, the row id of table: the
// chain of rules and rows that grants it, or each rule tried and what it
// lacked.
func (c *Client) Why(ctx context.Context, node, table, id string) (Why, error) {
	var out Why
	if node == "" || table == "" || id == "" {
		return out, fieldsync.Errorf(fieldsync.ErrInvalid, "explaining a row's visibility needs a node, a table and a row id")
	}
	path := "/api/v1/admin/nodes/" + url.PathEscape(node) + "/why/" + url.PathEscape(table) + "/" + url.PathEscape(id)
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}
