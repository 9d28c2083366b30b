package syncmgr

import (
	"net/http"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// news answers when the node's outbox holds a file numbered above "after"
// (the last one the client applied), or after NewsWait with news false: a
// client in background sync asks it in a loop instead of polling with full
// syncs. It watches the router's committed numbering, so it works across
// processes.
func (m *Manager) news(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	after, _ := strconv.ParseInt(r.URL.Query().Get(syncproto.ParamAfter), 10, 64)
	deadline := time.Now().Add(m.opts.NewsWait)
	for {
		nr, err := m.st.NodeRouting(r.Context(), n.Name)
		if err != nil {
			return err
		}
		if nr.OutboxNext-1 > after {
			writeJSON(w, http.StatusOK, syncproto.News{News: true, OutboxLast: nr.OutboxNext - 1})
			return nil
		}
		if time.Now().After(deadline) {
			writeJSON(w, http.StatusOK, syncproto.News{})
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}
