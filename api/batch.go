package api

import (
	"fmt"
	"net/http"

	"github.com/fieldsync/fieldsync"
)

// MaxBatchChanges is the most changes one POST /api/v1/records may carry.
// A batch is one database transaction; this bounds what one request can
// make the server hold and lock (the body's size is bounded as well).
const MaxBatchChanges = 1000

// BatchChange is one change of a batch: an insert (id optional), an update
// of the named columns, or a delete.
type BatchChange struct {
	Op     fieldsync.Op   `json:"op"`
	Table  string         `json:"table"`
	ID     string         `json:"id,omitempty"`
	Values map[string]any `json:"values,omitempty"`
}

// BatchRequest is the body of POST /api/v1/records.
type BatchRequest struct {
	Changes []BatchChange `json:"changes"`
}

// BatchResult is its answer: the row each change wrote (an insert's minted
// id included), in the order of the changes, and how many transactions the
// Transaction Log got (cascades and set-null references count).
type BatchResult struct {
	Changes []BatchRow `json:"changes"`
	Txns    int        `json:"txns"`
}

// BatchRow names the row one change of a batch wrote.
type BatchRow struct {
	Op    fieldsync.Op `json:"op"`
	Table string       `json:"table"`
	ID    string       `json:"id"`
}

// batch applies several changes in one database transaction: all of them,
// or (when one is refused) none, with the refused change named by its
// place in the batch.
func (h *handler) batch(w http.ResponseWriter, r *http.Request) error {
	var req BatchRequest
	if err := readObject(r, &req); err != nil {
		return err
	}
	changes, rows, err := batchChanges(req.Changes)
	if err != nil {
		return err
	}
	txns, err := h.st.Apply(r.Context(), "", changes...)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, BatchResult{Changes: rows, Txns: len(txns)})
	return nil
}

// batchChanges checks a batch's shape and turns it into the write path's
// changes, minting the id of every insert that has none so that the
// answer can name it.
func batchChanges(in []BatchChange) ([]fieldsync.Change, []BatchRow, error) {
	if len(in) == 0 {
		return nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, `the batch has no changes (send {"changes": [...]})`)
	}
	if len(in) > MaxBatchChanges {
		return nil, nil, fieldsync.Errorf(fieldsync.ErrTooLarge, "the batch has %d changes; at most %d are taken in one request", len(in), MaxBatchChanges)
	}
	changes := make([]fieldsync.Change, len(in))
	rows := make([]BatchRow, len(in))
	for i, c := range in {
		where := fmt.Sprintf("change %d of %d", i+1, len(in))
		if c.Table == "" {
			return nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, "%s: no table", where)
		}
		switch c.Op {
		case fieldsync.OpInsert:
			if c.ID == "" {
				if s, ok := c.Values["id"].(string); ok {
					c.ID = s
				} else if c.Values["id"] == nil {
					c.ID = fieldsync.NewID()
				}
			}
		case fieldsync.OpUpdate, fieldsync.OpDelete:
			if c.ID == "" {
				return nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, "%s: %s %s needs the row's id", where, map[fieldsync.Op]string{fieldsync.OpUpdate: "an", fieldsync.OpDelete: "a"}[c.Op], c.Op)
			}
		default:
			return nil, nil, fieldsync.Errorf(fieldsync.ErrInvalid, "%s: unknown op %q (insert, update or delete)", where, c.Op)
		}
		changes[i] = fieldsync.Change{Op: c.Op, Table: c.Table, ID: c.ID, Values: c.Values}
		rows[i] = BatchRow{Op: c.Op, Table: c.Table, ID: c.ID}
	}
	return changes, rows, nil
}
