package syncmgr

import (
	"encoding/json"
	"net/http"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// checkFolder refuses the requests of a node's folder that a later client
// init of the node superseded: its acknowledgements would delete outbox
// files the new folder needs, and its uploads are numbered as the new
// folder's are. A request naming no folder (an older client, or a client
// init before it claims the node) is let through.
func (m *Manager) checkFolder(n fieldsync.Node, folder string) error {
	if folder == "" || n.Folder == "" || folder == n.Folder {
		return nil
	}
	return fieldsync.Errorf(fieldsync.ErrSuperseded,
		"this folder of node %s was superseded by another client init of the node on %s: it can no longer synchronize; its changes not yet sent stay in it (fieldsync client status lists them)",
		n.Name, n.FolderSince.Format("2006-01-02 15:04 MST"))
}

// init claims the node for a client init's new folder. When the node had
// a folder before (a reinstalled laptop, a second folder), a fresh
// Database Extract is asked for: the new folder waits for it
// (State.ExtractPending) instead of starting from the node's older one,
// whose later outbox files the old folder may have acknowledged.
func (m *Manager) init(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var req syncproto.InitRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "the init request is not a JSON object with a folder: %v", err)
	}
	if !fieldsync.ValidID(req.Folder) {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "folder id %.64q is not valid (letters, digits, _ . : -, at most 128)", req.Folder)
	}
	before, err := m.st.ClaimFolder(r.Context(), n.Name, req.Folder)
	if err != nil {
		return err
	}
	ans := syncproto.InitAnswer{FreshExtract: before.Folder != "" && before.Folder != req.Folder}
	if ans.FreshExtract {
		ans.Superseded = before.FolderSince
		m.log.Info("node claimed by a new folder: a fresh extract is taken for it", "node", n.Name, "previous_since", before.FolderSince)
		if m.opts.ExtractWanted != nil {
			m.opts.ExtractWanted()
		}
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}
