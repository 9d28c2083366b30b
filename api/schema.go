package api

import (
	"context"
	"net/http"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

// SchemaFile is a schema sent to be planned or applied: its file name
// (for the lines of its errors) and its YAML text.
type SchemaFile struct {
	Source string `json:"source"`
	YAML   string `json:"yaml"`
}

// showSchema answers the schema in force and the versions recorded.
func (h *handler) showSchema(w http.ResponseWriter, r *http.Request) error {
	s, err := admin.ShowSchema(r.Context(), h.st)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

// planSchema answers what applying a schema would do, changing nothing;
// a change that would be refused is answered with its reasons.
func (h *handler) planSchema(w http.ResponseWriter, r *http.Request) error {
	s, err := h.readSchema(r)
	if err != nil {
		return err
	}
	p, err := admin.PlanSchema(r.Context(), h.st, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// applySchema puts a schema in force on the running server; a refused
// change is an error (400, schema_refused) listing every reason, and changes nothing.
func (h *handler) applySchema(w http.ResponseWriter, r *http.Request) error {
	s, err := h.readSchema(r)
	if err != nil {
		return err
	}
	by := fieldsync.UserFrom(r.Context())
	if by == "" {
		by = "administrator token"
	}
	p, err := admin.ApplySchema(r.Context(), h.st, s, by)
	if err != nil {
		return err
	}
	if p.Applied {
		h.log.Info("schema version applied", "version", p.To, "source", p.Source, "by", by, "steps", len(p.Steps))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (h *handler) readSchema(r *http.Request) (*fieldsync.Schema, error) {
	if err := onlyParams(r); err != nil {
		return nil, err
	}
	var f SchemaFile
	if err := readObject(r, &f); err != nil {
		return nil, err
	}
	if f.YAML == "" {
		return nil, fieldsync.Errorf(fieldsync.ErrInvalid, "the request holds no schema (yaml is empty)")
	}
	return admin.ParseSchema(f.Source, []byte(f.YAML))
}

// SchemaInForce returns the schema in force on the server and the versions it
// recorded.
func (c *Client) SchemaInForce(ctx context.Context) (admin.SchemaInForce, error) {
	var s admin.SchemaInForce
	return s, c.do(ctx, http.MethodGet, "/api/v1/admin/schema", nil, &s)
}

// PlanSchema asks what applying the schema would do.
func (c *Client) PlanSchema(ctx context.Context, f SchemaFile) (admin.SchemaPlan, error) {
	var p admin.SchemaPlan
	return p, c.do(ctx, http.MethodPost, "/api/v1/admin/schema/plan", f, &p)
}

// ApplySchema puts the schema in force on the server.
func (c *Client) ApplySchema(ctx context.Context, f SchemaFile) (admin.SchemaPlan, error) {
	var p admin.SchemaPlan
	return p, c.do(ctx, http.MethodPost, "/api/v1/admin/schema", f, &p)
}
