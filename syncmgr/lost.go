package syncmgr

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/syncproto"
)

// LostCooldown is how long after a node asked for a new Database Extract
// because an outbox file is lost it may ask again (per server process): a
// node cannot make the server take its extract over and over.
const LostCooldown = 10 * time.Minute

// lost handles a node whose copy of an outbox file is damaged while the
// server no longer has the file (an earlier version of the client
// acknowledged it before applying it), or whose download of it arrives
// damaged because the server's own copy is: its changes can only come back
// in a new Database Extract, which is asked for here. The file must be one
// the router wrote and the server no longer holds intact.
func (m *Manager) lost(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var req syncproto.LostRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || req.Number <= 0 {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "say which outbox file is lost with {\"number\": N, \"reason\": \"...\"}, N > 0")
	}
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if req.Number >= nr.OutboxNext {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "outbox file %d of node %s was never written (the outbox has reached %d)", req.Number, n.Name, nr.OutboxNext-1)
	}
	damaged, err := m.outboxDamaged(n.Name, req.Number)
	if err != nil {
		return err
	}
	if nr.ExtractWanted {
		writeJSON(w, http.StatusOK, syncproto.LostAnswer{ExtractWanted: true})
		return nil
	}
	if next, ok := m.lostAllowed(n.Name); !ok && !damaged {
		writeJSON(w, http.StatusOK, syncproto.LostAnswer{RetryAfter: next.UTC()})
		return nil
	}
	if err := m.st.RequestExtract(r.Context(), n.Name); err != nil {
		return err
	}
	what := fmt.Sprintf("outbox file %d was damaged in the node's folder (%s) and the server no longer had it: a new Database Extract of the node was asked for", req.Number, req.Reason)
	if damaged {
		what = fmt.Sprintf("outbox file %d of the node was damaged on the server: set aside, and a new Database Extract of the node was asked for", req.Number)
	}
	m.log.Warn("lost outbox file: new extract asked for", "node", n.Name, "file", req.Number, "reason", req.Reason)
	if err := m.st.RecordRecovery(r.Context(), fieldsync.Recovery{Node: n.Name, Component: "Synchronization Manager", What: what}); err != nil {
		return err
	}
	if m.opts.ExtractWanted != nil {
		m.opts.ExtractWanted()
	}
	writeJSON(w, http.StatusOK, syncproto.LostAnswer{ExtractWanted: true})
	return nil
}

// outboxDamaged checks the server's copy of an outbox file a node says is
// lost: none is fine (acknowledged, or deleted); an intact one is refused
// (the node downloads it again); a damaged one, which no node can download
// whole, is moved to the outbox's damaged/ folder and reported true: no
// copy of its changes is left but in a new extract.
func (m *Manager) outboxDamaged(node string, number int64) (bool, error) {
	path := m.docking.OutboxFile(node, number)
	r, err := dx.OpenFile(path, dx.Limits{})
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err == nil:
		r.Close()
		return false, fieldsync.Errorf(fieldsync.ErrInvalid, "the server still has outbox file %d of node %s, intact: download it again", number, node)
	case !errors.Is(err, fieldsync.ErrDamagedFile):
		return false, err
	}
	m.log.Error("outbox file damaged on the server: set aside", "node", node, "file", number, "err", err)
	aside := filepath.Join(m.docking.Outbox(node), "damaged")
	if err := os.MkdirAll(aside, 0o755); err != nil {
		return false, err
	}
	if err := os.Rename(path, filepath.Join(aside, docking.FileName(number))); err != nil {
		return false, err
	}
	return true, nil
}

// lostAllowed reports whether the node may ask for a new extract for a
// lost file now (and takes its turn), or when it may.
func (m *Manager) lostAllowed(node string) (time.Time, bool) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if last, ok := m.lostAsked[node]; ok && now.Sub(last) < LostCooldown {
		return last.Add(LostCooldown), false
	}
	for n, at := range m.lostAsked { // keep the map small
		if now.Sub(at) >= LostCooldown {
			delete(m.lostAsked, n)
		}
	}
	m.lostAsked[node] = now
	return now, true
}

// recordClientRecoveries records what a node's client says it recovered
// from during a session, for the administrator's view (bounded: the client
// is not trusted to be brief).
func (m *Manager) recordClientRecoveries(r *http.Request, node string, recovered []string) error {
	for i, what := range recovered {
		if i == syncproto.MaxEndRecoveries {
			break
		}
		if err := m.st.RecordRecovery(r.Context(), fieldsync.Recovery{Node: node, Component: "client", What: what}); err != nil {
			return err
		}
	}
	return nil
}
