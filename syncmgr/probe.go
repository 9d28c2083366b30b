package syncmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// ProbeRecordEvery is how often, at most, a node's syncs that found
// nothing new are recorded as a session (for its last sync time and the
// session list), after their answer.
const ProbeRecordEvery = time.Minute

// probe answers a probing start (syncproto.ParamProbeExtract) when the
// server has nothing new for the node, without opening a session: it
// reports whether it answered. The node's state is read as a start reads
// it; nothing new means no outbox file (not even one to acknowledge), the
// extract the node's data comes from is its latest and none is pending,
// no conflict after the last it saw, and no upload above "since" merged,
// refused or waiting. Such a sync is recorded after answering, once per
// ProbeRecordEvery.
func (m *Manager) probe(w http.ResponseWriter, r *http.Request, n fieldsync.Node) (bool, error) {
	extractSeq, ok := parseInt(r, syncproto.ParamProbeExtract)
	if !ok {
		return false, nil
	}
	st, err := m.nodeState(r.Context(), n, conflictsAfter(r))
	if err != nil {
		return false, err
	}
	since, _ := parseInt(r, syncproto.ParamSince)
	if err := m.mergeOutcomes(r.Context(), &st, n.Name, since); err != nil {
		return false, err
	}
	if len(st.Outbox) > 0 || st.ExtractSeq != extractSeq || st.ExtractPending || len(st.Conflicts) > 0 ||
		len(st.Merged) > 0 || len(st.RefusedChanges) > 0 || st.LastMerged != since || st.LastReceived > since {
		return false, nil
	}
	st.NothingNew = true
	writeJSON(w, http.StatusOK, st)
	m.nothingNew()
	m.recordProbe(n.Name)
	return true, nil
}

// recordProbe records a node's sync that found nothing new as an ended
// session, in the background and at most once per ProbeRecordEvery.
func (m *Manager) recordProbe(node string) {
	now := time.Now()
	m.mu.Lock()
	last, seen := m.probed[node]
	if seen && now.Sub(last) < ProbeRecordEvery {
		m.mu.Unlock()
		return
	}
	m.probed[node] = now
	m.mu.Unlock()
	var b [12]byte
	rand.Read(b[:])
	s := fieldsync.Session{ID: hex.EncodeToString(b[:]), Node: node, Started: now.UTC(), Ended: now.UTC(), Result: "ok: nothing new"}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.st.SaveSession(ctx, s); err != nil {
			m.log.Error("record a sync that found nothing new", "node", node, "err", err)
		}
	}()
}
