package syncmgr

import (
	"bufio"
	"net/http"
	"os"
	"strconv"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/syncproto"
)

// outboxBatch sends the node's outbox files from..to that the router has
// committed and that are there, in order, in one answer
// (syncproto.OutboxBatch), at most BatchMaxFiles of them, stopping at the
// first one that would not fit.
func (m *Manager) outboxBatch(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	q := r.URL.Query()
	from, err1 := strconv.ParseInt(q.Get(syncproto.ParamFrom), 10, 64)
	to, err2 := strconv.ParseInt(q.Get(syncproto.ParamTo), 10, 64)
	if err1 != nil || err2 != nil || from < 1 || to < from {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "outbox batch: from and to must be file numbers with from <= to")
	}
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	to = min(to, nr.OutboxNext-1)
	m.removed(n.Name)
	nums, err := docking.Numbers(m.docking.Outbox(n.Name))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	bw := bufio.NewWriterSize(w, 64<<10)
	total, sent := int64(0), 0
	for _, num := range nums {
		if num < from || num > to {
			continue
		}
		if sent == syncproto.BatchMaxFiles {
			break
		}
		data, ok := m.batchFile(n.Name, num, syncproto.BatchMaxBytes-total)
		if !ok {
			break
		}
		if err := syncproto.WriteBatchFrame(bw, num, data); err != nil {
			return nil // the node went away
		}
		total, sent = total+int64(len(data)), sent+1
		m.transferred(s, TransferOutbox, false, int64(len(data)))
	}
	_ = bw.Flush() // a node that went away gets the rest another time
	return nil
}

// batchFile reads one outbox file of a batch, if it is there and holds at
// most room bytes.
func (m *Manager) batchFile(node string, num, room int64) ([]byte, bool) {
	f, err := os.Open(m.docking.OutboxFile(node, num))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || info.Size() > room {
		return nil, false
	}
	data := make([]byte, info.Size())
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, false
	}
	return data, true
}
