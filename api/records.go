package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/admin"
)

func (h *handler) create(w http.ResponseWriter, r *http.Request) error {
	var vals map[string]any
	if err := readObject(r, &vals); err != nil {
		return err
	}
	row, err := admin.Create(r.Context(), h.st, r.PathValue("table"), vals)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, row)
	return nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) error {
	row, err := h.st.Get(r.Context(), r.PathValue("table"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) error {
	q := fieldsync.Query{Where: map[string]any{}}
	for k, vs := range r.URL.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "_after":
			q.After = v
		case "_limit":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "_limit %q is not a positive number", v)
			}
			q.Limit = n
		case "_null":
			for _, c := range strings.Split(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					if _, dup := r.URL.Query()[c]; dup {
						return fieldsync.Errorf(fieldsync.ErrInvalid, "column %q is filtered both by value and as null", c)
					}
					q.Where[c] = nil
				}
			}
		default:
			if strings.HasPrefix(k, "_") {
				return fieldsync.Errorf(fieldsync.ErrInvalid, "unknown query parameter %q (filters are column=value; also _after, _limit, _null)", k)
			}
			q.Where[k] = v
		}
	}
	page, err := h.st.List(r.Context(), r.PathValue("table"), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (h *handler) update(w http.ResponseWriter, r *http.Request) error {
	var vals map[string]any
	if err := readObject(r, &vals); err != nil {
		return err
	}
	row, err := admin.Update(r.Context(), h.st, r.PathValue("table"), r.PathValue("id"), vals)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	n, err := admin.Delete(r.Context(), h.st, r.PathValue("table"), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": id, "rows": n})
	return nil
}

// ColumnTypes is the answer of GET /api/v1/schema: the type of every column
// of every table, by table and column name. api.Client reads it to give row
// values the Go type of their column.
type ColumnTypes struct {
	Tables map[string]map[string]fieldsync.ColumnType `json:"tables"`
}

func (h *handler) schema(w http.ResponseWriter, r *http.Request) error {
	out := ColumnTypes{Tables: map[string]map[string]fieldsync.ColumnType{}}
	for _, t := range h.st.Schema().Tables {
		cols := map[string]fieldsync.ColumnType{}
		for _, c := range t.Columns {
			cols[c.Name] = c.Type
		}
		out.Tables[t.Name] = cols
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
