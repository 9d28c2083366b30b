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

// session is a node's open session, with when a request last used it
// and how many of its requests run.
type session struct {
	fieldsync.Session
	last    time.Time
	running int
}

// enter and done count a request running in a session.
func (m *Manager) enter(s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.running++
}

func (m *Manager) done(s *session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.running--
	s.last = time.Now()
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
	ending := m.ending[id]
	m.mu.Unlock()
	if id == "" || ending {
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
// recording the ones left idle as abandoned, and the node's oldest one as
// replaced when the node is at its limit, and answers the node's state.
func (m *Manager) start(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	m.waitRouted(r.Context())
	if done, err := m.probe(w, r, n); done || err != nil {
		return err
	}
	s, ended, err := m.open(n.Name)
	for _, e := range ended {
		if err := m.st.SaveSession(r.Context(), e); err != nil {
			m.log.Error("record ended session", "node", e.Node, "session", e.ID, "result", e.Result, "err", err)
		}
		m.sessionEnded(e)
	}
	if err != nil {
		return err
	}
	if err := m.saveStarted(r.Context(), s); err != nil {
		return err
	}
	m.sessionStarted()
	// The router position is read before the outbox is listed: every file
	// holding transactions up to it is then in the list.
	st, err := m.nodeState(r.Context(), n, conflictsAfter(r))
	if err != nil {
		return err
	}
	since, _ := parseInt(r, syncproto.ParamSince)
	if err := m.mergeOutcomes(r.Context(), &st, n.Name, since); err != nil {
		return err
	}
	st.Session = s.ID
	m.log.Info("session started", "node", n.Name, "session", s.ID)
	writeJSON(w, http.StatusOK, st)
	return nil
}

// saveStarted records a session open just now. Another start of the node
// may end it meanwhile (the node at its limit) and record that before this
// does: it is then recorded again, ended, or it would be taken for one
// running in another process and opened again past the node's limit.
func (m *Manager) saveStarted(ctx context.Context, s *session) error {
	m.mu.Lock()
	rec := s.Session
	m.mu.Unlock()
	if err := m.st.SaveSession(ctx, rec); err != nil {
		return err
	}
	m.mu.Lock()
	_, open := m.sessions[s.ID]
	rec = s.Session
	m.mu.Unlock()
	if open {
		return nil
	}
	return m.st.SaveSession(ctx, rec)
}

// open makes a new session of the node, and returns it with the sessions
// it ended to make room: those idle past SessionIdle (abandoned) and, when
// the node holds MaxNodeSessions, its least recently used one with no
// request running (replaced). With none to end it refuses: busy (the
// server's limit) or the node's limit.
func (m *Manager) open(node string) (*session, []fieldsync.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var ended []fieldsync.Session
	end := func(s *session, result string) {
		delete(m.sessions, s.ID)
		s.Ended, s.Result = now.UTC(), result
		ended = append(ended, s.Session)
	}
	var own []*session
	for _, s := range m.sessions {
		switch {
		case s.running == 0 && now.Sub(s.last) > m.opts.SessionIdle:
			end(s, "abandoned")
		case s.Node == node:
			own = append(own, s)
		}
	}
	if len(own) >= m.opts.MaxNodeSessions {
		var oldest *session
		for _, s := range own {
			if s.running == 0 && (oldest == nil || s.last.Before(oldest.last)) {
				oldest = s
			}
		}
		if oldest == nil {
			return nil, ended, m.errNodeSessions(node)
		}
		end(oldest, "replaced by a newer session")
	}
	if len(m.sessions) >= m.opts.MaxSessions {
		return nil, ended, fieldsync.Errorf(fieldsync.ErrBusy, "busy, retry later")
	}
	var b [12]byte
	rand.Read(b[:])
	s := &session{Session: fieldsync.Session{ID: hex.EncodeToString(b[:]), Node: node, Started: now.UTC(), Result: "running"}, last: now}
	m.sessions[s.ID] = s
	return s, ended, nil
}

// conflictsAfter is the last conflict a request says the node has seen
// (syncproto.ParamConflictsAfter; 0 when it does not say).
func conflictsAfter(r *http.Request) int64 {
	after, _ := strconv.ParseInt(r.URL.Query().Get(syncproto.ParamConflictsAfter), 10, 64)
	return max(after, 0)
}

// nodeState is what a node learns of its state: with a page of the
// conflicts after conflictsAfter.
func (m *Manager) nodeState(ctx context.Context, n fieldsync.Node, conflictsAfter int64) (syncproto.State, error) {
	st := syncproto.State{Node: n.Name, EmployeeID: n.EmployeeID, Merged: []fieldsync.MergedUpload{}, FileLimit: m.opts.NodeFileLimit,
		UploadsAhead: m.opts.UploadsAhead}
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
	if st.Incarnation, err = m.st.Incarnation(ctx); err != nil {
		return st, err
	}
	nr, err := m.st.NodeRouting(ctx, n.Name)
	if err != nil {
		return st, err
	}
	st.ExtractSeq, st.ExtractPending = nr.ExtractSeq, nr.ExtractWanted
	if st.LastMerged, err = m.st.LastMerged(ctx, n.Name); err != nil {
		return st, err
	}
	if st.LastReceived, err = m.st.LastReceived(ctx, n.Name); err != nil {
		return st, err
	}
	if st.Refused, err = m.st.Refused(ctx, n.Name); err != nil {
		return st, err
	}
	page, err := m.st.ConflictPage(ctx, fieldsync.ConflictQuery{Node: n.Name, After: conflictsAfter})
	if err != nil {
		return st, err
	}
	st.Conflicts, st.ConflictsMore = page.Conflicts, page.Next > 0
	st.Outbox, err = m.outboxFiles(n.Name, nr.OutboxNext)
	return st, err
}

// end ends a session, answers, and then records its end and result.
func (m *Manager) end(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var body syncproto.EndRequest
	json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&body)
	if body.AckUpto < 0 {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "end: ack_upto must be an outbox file number, not %d", body.AckUpto)
	}
	s := m.session(r.Context(), r.PathValue("id"), n.Name)
	if s == nil || s.Node != n.Name {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "no open session %q", r.PathValue("id"))
	}
	var acked []syncproto.OutboxFile
	if body.AckUpto > 0 {
		var err error
		if acked, err = m.outboxFiles(n.Name, body.AckUpto+1); err != nil {
			return err
		}
	}
	m.mu.Lock()
	_, open := m.sessions[s.ID]
	delete(m.sessions, s.ID)
	m.mu.Unlock()
	if !open {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "no open session %q", r.PathValue("id"))
	}
	s.Ended = time.Now().UTC()
	s.Result = body.Result
	if s.Result == "" {
		s.Result = "ok"
	}
	m.sessionEnded(s.Session)
	if err := m.recordClientRecoveries(r, n.Name, body.Recovered); err != nil {
		return err
	}
	m.log.Info("session ended", "node", n.Name, "session", s.ID, "result", s.Result,
		"up_files", s.UpFiles, "up_bytes", s.UpBytes, "down_files", s.DownFiles, "down_bytes", s.DownBytes)
	writeJSON(w, http.StatusOK, s.Session)
	if body.AckUpto > 0 {
		m.acknowledged(n.Name, body.AckUpto, acked)
	}
	m.recordEnded(s.Session)
	return nil
}

// recordEnded records an ended session after its answer: the node does
// not wait for the write. Until it is written the session's id is taken
// for no other (session), so no late request of it opens it again from
// the record of its start. WaitBackground waits for the write.
func (m *Manager) recordEnded(s fieldsync.Session) {
	m.mu.Lock()
	m.ending[s.ID] = true
	m.mu.Unlock()
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.st.SaveSession(ctx, s); err != nil {
			m.log.Error("record ended session", "node", s.Node, "session", s.ID, "result", s.Result, "err", err)
		}
		m.mu.Lock()
		delete(m.ending, s.ID)
		m.mu.Unlock()
	}()
}

// WaitBackground waits until the work done after answering is done: the
// ended sessions recorded and the acknowledged outbox files removed.
func (m *Manager) WaitBackground() {
	m.background.Wait()
	m.removals.wg.Wait()
}

// state answers the node's state during a session.
func (m *Manager) state(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	settled, wait := parseInt(r, syncproto.ParamSettled)
	if wait {
		if err := m.waitSettled(r.Context(), n.Name, settled); err != nil {
			return err
		}
	}
	st, err := m.nodeState(r.Context(), n, conflictsAfter(r))
	if err != nil {
		return err
	}
	if wait {
		since, _ := parseInt(r, syncproto.ParamSince)
		if err := m.mergeOutcomes(r.Context(), &st, n.Name, since); err != nil {
			return err
		}
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

// mergeOutcomes adds to a node's state where its uploads above since were
// merged and the changes refused in them.
func (m *Manager) mergeOutcomes(ctx context.Context, st *syncproto.State, node string, since int64) error {
	var err error
	if st.Merged, err = m.st.MergedUploads(ctx, node, since); err != nil {
		return err
	}
	st.RefusedChanges, err = m.st.RefusedChanges(ctx, node, since)
	return err
}

// parseInt reads a query parameter that is a number, and whether it was
// given.
func parseInt(r *http.Request, name string) (int64, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return max(n, 0), err == nil
}

// waitSettled waits, up to Options.SettleWait, until the node's uploads up
// to settled are merged (or refused) and every router partition has routed
// what the log held then: the node's next download then carries what the
// merge decided (a conflict's winning value sent back). Past the wait it
// returns without error; the node learns the rest at its next sync.
func (m *Manager) waitSettled(ctx context.Context, node string, settled int64) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.SettleWait)
	defer cancel()
	target := int64(-1)
	for {
		done, err := m.settledYet(ctx, node, settled, &target)
		if err != nil || done {
			if ctx.Err() != nil {
				return nil // waited long enough, or the node went away
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// settledYet is one look of waitSettled: target is the log position the
// routers must reach, once the uploads are merged (-1 before).
func (m *Manager) settledYet(ctx context.Context, node string, settled int64, target *int64) (bool, error) {
	if *target < 0 {
		last, err := m.st.LastMerged(ctx, node)
		if err != nil || last < settled {
			return false, err
		}
		ls, err := m.st.LogState(ctx)
		if err != nil {
			return false, err
		}
		*target = ls.LastSeq
	}
	positions, err := m.st.RouterPositions(ctx)
	if err != nil || len(positions) == 0 {
		return len(positions) == 0 && err == nil, err // no router: nothing to wait for
	}
	for _, p := range positions {
		if p < *target {
			return false, nil
		}
	}
	return true, nil
}
