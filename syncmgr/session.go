package syncmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// session is a node's open session, with when a request last used it.
type session struct {
	fieldsync.Session
	last time.Time
}

// session finds a node's open session and marks it used. A session
// another Synchronization Manager process started (behind a load balancer)
// is taken over from the database.
func (m *Manager) session(ctx context.Context, id, node string) *session {
	m.mu.Lock()
	s := m.sessions[id]
	if s != nil {
		defer m.mu.Unlock()
		if s.Node != node {
			return nil
		}
		s.last = time.Now()
		return s
	}
	m.mu.Unlock()
	if id == "" {
		return nil
	}
	stored, err := m.st.Session(ctx, id)
	if err != nil || stored.Node != node || !stored.Ended.IsZero() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s = m.sessions[id]; s == nil {
		s = &session{Session: stored}
		m.sessions[id] = s
	}
	s.last = time.Now()
	return s
}

// start opens a session (unless MaxSessions run already: busy) after
// recording the ones left idle as abandoned, and answers the node's state.
func (m *Manager) start(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	m.mu.Lock()
	now := time.Now()
	var abandoned []fieldsync.Session
	for id, s := range m.sessions {
		if now.Sub(s.last) > m.opts.SessionIdle {
			delete(m.sessions, id)
			s.Ended, s.Result = now, "abandoned"
			abandoned = append(abandoned, s.Session)
		}
	}
	m.mu.Unlock()
	for _, s := range abandoned {
		if err := m.st.SaveSession(r.Context(), s); err != nil {
			m.log.Error("record abandoned session", "node", s.Node, "session", s.ID, "err", err)
		}
	}
	m.mu.Lock()
	if len(m.sessions) >= m.opts.MaxSessions {
		m.mu.Unlock()
		return fieldsync.Errorf(fieldsync.ErrBusy, "busy, retry later")
	}
	var b [12]byte
	rand.Read(b[:])
	s := &session{Session: fieldsync.Session{ID: hex.EncodeToString(b[:]), Node: n.Name, Started: now.UTC(), Result: "running"}, last: now}
	m.sessions[s.ID] = s
	m.mu.Unlock()
	if err := m.st.SaveSession(r.Context(), s.Session); err != nil {
		return err
	}
	// The router position is read before the outbox is listed: every file
	// holding transactions up to it is then in the list.
	st, err := m.nodeState(r.Context(), n)
	if err != nil {
		return err
	}
	since, _ := strconv.ParseInt(r.URL.Query().Get(syncproto.ParamSince), 10, 64)
	if st.Merged, err = m.st.MergedUploads(r.Context(), n.Name, since); err != nil {
		return err
	}
	if st.RefusedChanges, err = m.st.RefusedChanges(r.Context(), n.Name, since); err != nil {
		return err
	}
	st.Session = s.ID
	m.log.Info("session started", "node", n.Name, "session", s.ID)
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (m *Manager) nodeState(ctx context.Context, n fieldsync.Node) (syncproto.State, error) {
	st := syncproto.State{Node: n.Name, EmployeeID: n.EmployeeID, Merged: []fieldsync.MergedUpload{}, FileLimit: m.opts.NodeFileLimit}
	positions, err := m.st.RouterPositions(ctx)
	if err != nil {
		return st, err
	}
	st.RoutedSeq = -1
	for _, p := range positions {
		if st.RoutedSeq < 0 || p < st.RoutedSeq {
			st.RoutedSeq = p
		}
	}
	st.RoutedSeq = max(st.RoutedSeq, 0)
	nr, err := m.st.NodeRouting(ctx, n.Name)
	if err != nil {
		return st, err
	}
	st.ExtractSeq = nr.ExtractSeq
	if st.LastMerged, err = m.st.LastMerged(ctx, n.Name); err != nil {
		return st, err
	}
	if st.Refused, err = m.st.Refused(ctx, n.Name); err != nil {
		return st, err
	}
	if st.Conflicts, err = m.st.Conflicts(ctx, n.Name); err != nil {
		return st, err
	}
	st.Outbox, err = m.outboxFiles(n.Name, nr.OutboxNext)
	return st, err
}

// end records a session's end and result.
func (m *Manager) end(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var body syncproto.EndRequest
	json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body)
	s := m.session(r.Context(), r.PathValue("id"), n.Name)
	m.mu.Lock()
	if s != nil {
		delete(m.sessions, s.ID)
	}
	m.mu.Unlock()
	if s == nil || s.Node != n.Name {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "no open session %q", r.PathValue("id"))
	}
	s.Ended = time.Now().UTC()
	s.Result = body.Result
	if s.Result == "" {
		s.Result = "ok"
	}
	if err := m.st.SaveSession(r.Context(), s.Session); err != nil {
		return err
	}
	m.log.Info("session ended", "node", n.Name, "session", s.ID, "result", s.Result,
		"up_files", s.UpFiles, "up_bytes", s.UpBytes, "down_files", s.DownFiles, "down_bytes", s.DownBytes)
	writeJSON(w, http.StatusOK, s.Session)
	return nil
}

// state answers the node's state during a session.
func (m *Manager) state(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	st, err := m.nodeState(r.Context(), n)
	if err != nil {
		return err
	}
	st.Session = s.ID
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (m *Manager) count(s *session, up bool, bytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if up {
		s.UpFiles++
		s.UpBytes += bytes
	} else {
		s.DownFiles++
		s.DownBytes += bytes
	}
}
