package localui

import (
	"net/http"

	"github.com/fieldsync/fieldsync"
)

// maxPage is the most rows one list answer holds.
const maxPage = 500

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.c.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// conflicts answers the latest conflicts and, apart, the refusals among
// them (changes the server would not merge).
func (s *Server) conflicts(w http.ResponseWriter, r *http.Request) {
	st, err := s.c.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := struct {
		Conflicts []fieldsync.Conflict `json:"conflicts"`
		Refusals  []fieldsync.Conflict `json:"refusals"`
	}{Conflicts: []fieldsync.Conflict{}, Refusals: []fieldsync.Conflict{}}
	for _, c := range st.Conflicts {
		if c.Kind.Refusal() {
			out.Refusals = append(out.Refusals, c)
		} else {
			out.Conflicts = append(out.Conflicts, c)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// list answers one page of a table's rows: ?after=ID&limit=N, and any
// other parameter col=value as a filter.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := fieldsync.Query{Where: map[string]any{}}
	var err error
	for k, vs := range r.URL.Query() {
		switch k {
		case "after":
			q.After = vs[0]
		case "limit":
			q.Limit, err = atoiOr(vs[0], 0)
		default:
			q.Where[k] = vs[0]
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q.Limit = min(q.Limit, maxPage)
	page, err := s.c.List(r.Context(), r.PathValue("table"), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if page.Rows == nil {
		page.Rows = []fieldsync.Row{}
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request) {
	row, err := s.c.Get(r.Context(), r.PathValue("table"), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, row)
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	vals, err := readValues(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, r, http.StatusCreated, fieldsync.Insert(r.PathValue("table"), vals))
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	vals, err := readValues(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.write(w, r, http.StatusOK, fieldsync.Update(r.PathValue("table"), r.PathValue("id"), vals))
}

// write applies a create or an update locally and answers the row as it
// is now.
func (s *Server) write(w http.ResponseWriter, r *http.Request, status int, ch fieldsync.Change) {
	txns, err := s.c.Apply(r.Context(), ch)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id := ch.ID
	if ch.Op == fieldsync.OpInsert && len(txns) > 0 {
		id = txns[0].RowID
	}
	row, err := s.c.Get(r.Context(), ch.Table, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("local write", "op", ch.Op, "table", ch.Table, "id", id)
	writeJSON(w, status, row)
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request) {
	txns, err := s.c.Apply(r.Context(), fieldsync.Delete(r.PathValue("table"), r.PathValue("id")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": r.PathValue("id"), "rows": len(txns)})
}
