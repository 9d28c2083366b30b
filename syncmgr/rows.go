package syncmgr

import (
	"net/http"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// row returns a row as the server has it now, if the node sees it: a
// client whose upload was refused puts back the rows it had changed.
func (m *Manager) row(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	table, id := r.PathValue("table"), r.PathValue("id")
	ok, err := visibility.Sees(r.Context(), m.st, m.st.Schema(), n.EmployeeID, table, id)
	if err != nil {
		return err
	}
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "node %s does not see %s %q", n.Name, table, id)
	}
	row, err := m.st.Get(r.Context(), table, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, row)
	return nil
}
