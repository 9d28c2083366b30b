package localui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/fieldsync/fieldsync"
)

// maxChoices is the most rows a foreign-key picker offers at once.
const maxChoices = 20

// Choice is one row a foreign-key picker offers: its id and a label for
// people (the row's first text column that is no foreign key).
type Choice struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// pick answers a picker: up to maxChoices local rows of the table with a
// value containing ?q= (every row when q is empty), in id order.
func (s *Server) pick(w http.ResponseWriter, r *http.Request) {
	t, err := s.c.Store().Schema().LookupTable(r.PathValue("table"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		s.fail(w, r, fieldsync.Errorf(fieldsync.ErrInvalid, "q: at most 200 bytes"))
		return
	}
	out := []Choice{}
	err = fieldsync.Each(r.Context(), s.c, t.Name, fieldsync.Query{}, func(row fieldsync.Row) error {
		if q != "" && !rowMatches(row, q) {
			return nil
		}
		if len(out) == maxChoices {
			return errPageFull
		}
		out = append(out, Choice{ID: row.ID(), Label: label(t, row)})
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// label is the row's first text value that is no foreign key, or "".
func label(t *fieldsync.Table, row fieldsync.Row) string {
	for _, c := range t.Columns {
		if c.Name == "id" || c.References != "" || c.Type != fieldsync.TypeText {
			continue
		}
		if v, ok := row[c.Name].(string); ok && v != "" {
			return v
		}
	}
	return ""
}
