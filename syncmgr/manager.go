// Package syncmgr is the Synchronization Manager: the HTTP endpoints remote
// clients use to synchronize. It validates each request's node and secret
// against the node registry (unknown, deactivated and wrongly authenticated
// nodes are refused with distinct messages, and logged), serves the node's
// extract and outbox files (ranged, so broken downloads resume), takes its
// uploads into its server inbox for the Transaction Merger, deletes outbox
// files the client acknowledges, and records each session. A node reaches
// only its own folders. Concurrent sessions are limited; past the limit a
// client is told "busy, retry later".
//
// docs/sync.md documents the protocol.
package syncmgr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/visibility"
)

// Store is what the Synchronization Manager needs of the server database.
type Store interface {
	fieldsync.Reader
	Schema() *fieldsync.Schema
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	NodeRouting(ctx context.Context, name string) (fieldsync.NodeRouting, error)
	LastMerged(ctx context.Context, node string) (int64, error)
	Refused(ctx context.Context, node string) ([]fieldsync.Refusal, error)
	Conflicts(ctx context.Context, node string) ([]fieldsync.Conflict, error)
	SaveSession(ctx context.Context, s fieldsync.Session) error
	Session(ctx context.Context, id string) (fieldsync.Session, error)
	MergedUploads(ctx context.Context, node string, since int64) ([]fieldsync.MergedUpload, error)
	// NoteUpload records that an upload file is durable in the node's inbox.
	NoteUpload(ctx context.Context, node string, number int64) error
	RouterPositions(ctx context.Context) (map[int]int64, error)
}

// Options configures the Synchronization Manager.
type Options struct {
	// MaxSessions is how many sessions may run at once (default 256).
	MaxSessions int
	// MaxUploadBytes limits one uploaded file (default 64 MiB).
	MaxUploadBytes int64
	// SessionIdle ends a session no request has used for this long (default 2 min).
	SessionIdle time.Duration
	// Files serves attachment files to nodes; nil serves none.
	Files Files
	// NodeFileLimit: published files larger than this are offered to nodes
	// as requested ones (fetched only when the user asks); 0: no limit.
	NodeFileLimit int64
	// NewsWait is how long a news request waits for news (default 25 s).
	NewsWait time.Duration
	// Uploaded is called after a node's upload is durable (wakes the merger).
	Uploaded func(node string)
	Logger   *slog.Logger
}

// Manager is the Synchronization Manager.
type Manager struct {
	st      Store
	docking docking.Folder
	opts    Options
	log     *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
}

type session struct {
	fieldsync.Session
	last time.Time
}

// New returns a Synchronization Manager over the docking folder.
func New(st Store, dock docking.Folder, opts Options) *Manager {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 256
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 64 << 20
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 2 * time.Minute
	}
	if opts.NewsWait <= 0 {
		opts.NewsWait = 25 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{st: st, docking: dock, opts: opts, log: opts.Logger.With("component", "Synchronization Manager"),
		sessions: map[string]*session{}}
}

// Handler returns the endpoints, to be mounted at the server's root.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /sync/v1/sessions", m.node(m.start, false))
	mux.Handle("POST /sync/v1/sessions/{id}/end", m.node(m.end, false))
	mux.Handle("GET /sync/v1/extract", m.node(m.extract, true))
	mux.Handle("GET /sync/v1/outbox", m.node(m.outbox, true))
	mux.Handle("GET /sync/v1/outbox/{number}", m.node(m.outboxFile, true))
	mux.Handle("POST /sync/v1/outbox/ack", m.node(m.ack, true))
	mux.Handle("PUT /sync/v1/uploads/{number}", m.node(m.upload, true))
	mux.Handle("GET /sync/v1/state", m.node(m.state, true))
	mux.Handle("GET /sync/v1/news", m.node(m.news, false))
	mux.Handle("GET /sync/v1/files/{ref}", m.node(m.file, true))
	mux.Handle("PUT /sync/v1/files/{ref}", m.node(m.uploadFile, true))
	mux.Handle("GET /sync/v1/files/{ref}/upload", m.node(m.fileHave, true))
	mux.Handle("GET /sync/v1/rows/{table}/{id}", m.node(m.row, true))
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error

// node authenticates the request as a node (HTTP Basic: name and secret)
// and, when inSession, finds its session (header X-Fieldsync-Session).
func (m *Manager) node(next handlerFunc, inSession bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, secret, ok := r.BasicAuth()
		if !ok {
			writeError(w, http.StatusUnauthorized, "missing node credentials (HTTP Basic: node name and secret)")
			return
		}
		n, hash, err := m.st.Node(r.Context(), name)
		switch {
		case errors.Is(err, fieldsync.ErrNodeUnknown):
			m.log.Warn("refused unknown node", "node", name, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("unknown node %q: register it with fieldsync admin node add", name))
			return
		case err != nil:
			m.log.Error("node lookup failed", "node", name, "err", err)
			writeError(w, http.StatusInternalServerError, "internal error (see the server log)")
			return
		case !fieldsync.SecretMatches(secret, hash):
			m.log.Warn("refused wrong secret", "node", name, "remote", r.RemoteAddr)
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("wrong secret for node %q", name))
			return
		case !n.Active:
			m.log.Warn("refused deactivated node", "node", name, "remote", r.RemoteAddr)
			writeError(w, http.StatusForbidden, fmt.Sprintf("node %q is deactivated", name))
			return
		}
		var s *session
		if inSession {
			if s = m.session(r.Context(), r.Header.Get("X-Fieldsync-Session"), n.Name); s == nil {
				writeError(w, http.StatusConflict, "no open session: start one with POST /sync/v1/sessions")
				return
			}
		}
		if err := next(w, r, n, s); err != nil {
			code := http.StatusInternalServerError
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				code, err = http.StatusRequestEntityTooLarge, fmt.Errorf("upload larger than %d bytes", tooBig.Limit)
			case errors.Is(err, fieldsync.ErrInvalid), errors.Is(err, fieldsync.ErrDamagedFile):
				code = http.StatusBadRequest
			case errors.Is(err, fieldsync.ErrTooLarge):
				code = http.StatusRequestEntityTooLarge
			case errors.Is(err, fieldsync.ErrNotFound):
				code = http.StatusNotFound
			}
			if code == http.StatusInternalServerError {
				m.log.Error("sync request failed", "node", n.Name, "path", r.URL.Path, "err", err)
				err = errors.New("internal error (see the server log)")
			}
			writeError(w, code, err.Error())
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, map[string]string{"error": msg})
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

// State is what a node learns when it starts a session.
type State struct {
	Session    string               `json:"session"`
	Node       string               `json:"node"`
	EmployeeID string               `json:"employee_id"`
	ExtractSeq int64                `json:"extract_seq"`
	LastMerged int64                `json:"last_merged"` // the node's last upload merged or refused
	Refused    []fieldsync.Refusal  `json:"refused"`     // uploads refused, and why
	Conflicts  []fieldsync.Conflict `json:"conflicts"`   // conflicts met merging its uploads
	Outbox     []OutboxFile         `json:"outbox"`      // files waiting for it
	// Merged tells where the node's merged uploads (numbered above the
	// "since" it asked about) entered the log.
	Merged []fieldsync.MergedUpload `json:"merged"`
	// RoutedSeq is how far every Transaction Router has routed: the outbox
	// listed here holds every transaction for the node up to it.
	RoutedSeq int64 `json:"routed_seq"`
	// FileLimit: published files larger than this come only when asked
	// for, as requested ones (0: no limit).
	FileLimit int64 `json:"file_limit,omitempty"`
}

// OutboxFile is one file of a node's outbox.
type OutboxFile = docking.File

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
		writeError(w, http.StatusServiceUnavailable, "busy, retry later")
		return nil
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
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	if st.Merged, err = m.st.MergedUploads(r.Context(), n.Name, since); err != nil {
		return err
	}
	st.Session = s.ID
	m.log.Info("session started", "node", n.Name, "session", s.ID)
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (m *Manager) nodeState(ctx context.Context, n fieldsync.Node) (State, error) {
	st := State{Node: n.Name, EmployeeID: n.EmployeeID, Merged: []fieldsync.MergedUpload{}, FileLimit: m.opts.NodeFileLimit}
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

// outboxFiles lists the node's outbox files the router has committed to
// (numbers below its saved next number), in order.
func (m *Manager) outboxFiles(node string, next int64) ([]OutboxFile, error) {
	files, err := docking.List(m.docking.Outbox(node))
	if err != nil {
		return nil, err
	}
	out := []OutboxFile{}
	for _, f := range files {
		if f.Number < next {
			out = append(out, f)
		}
	}
	return out, nil
}

func (m *Manager) end(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var body struct {
		Result string `json:"result"`
	}
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

func (m *Manager) extract(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	path := m.docking.Extract(n.Name)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "node %q has no extract yet (one may be being taken: try again shortly, or ask an administrator to run fieldsync admin node reextract %s)", n.Name, n.Name)
	} else if err != nil {
		return err
	}
	return m.serve(w, r, s, f, docking.ExtractName)
}

func (m *Manager) outbox(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	st, err := m.nodeState(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st.Outbox)
	return nil
}

func (m *Manager) outboxFile(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	num, ok := docking.ParseNumber(r.PathValue("number"))
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "outbox file number %q is not a positive number", r.PathValue("number"))
	}
	f, err := os.Open(m.docking.OutboxFile(n.Name, num))
	if errors.Is(err, os.ErrNotExist) {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "outbox file %d of node %s is not there (acknowledged already?)", num, n.Name)
	} else if err != nil {
		return err
	}
	return m.serve(w, r, s, f, docking.FileName(num))
}

// ack deletes the outbox files up to the number the client has stored.
func (m *Manager) ack(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	var body struct {
		Upto int64 `json:"upto"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil || body.Upto < 0 {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "acknowledge with {\"upto\": N}")
	}
	files, err := m.outboxFiles(n.Name, body.Upto+1)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Remove(m.docking.OutboxFile(n.Name, f.Number)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": len(files)})
	return nil
}

// upload takes one upload file into the node's server inbox: verified
// whole (checksum, header naming this node and number) before it is kept.
func (m *Manager) upload(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	num, ok := docking.ParseNumber(r.PathValue("number"))
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "upload number %q is not a positive number", r.PathValue("number"))
	}
	last, err := m.st.LastMerged(r.Context(), n.Name)
	if err != nil {
		return err
	}
	dir := m.docking.Inbox(n.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	af, err := durable.Create(dir, docking.FileName(num))
	if err != nil {
		return err
	}
	defer af.Abort()
	body := http.MaxBytesReader(w, r.Body, m.opts.MaxUploadBytes)
	size, err := io.Copy(af, body)
	if err != nil {
		return err
	}
	if num <= last {
		writeJSON(w, http.StatusOK, map[string]any{"number": num, "duplicate": true})
		return nil
	}
	f, err := os.Open(af.TempPath())
	if err != nil {
		return err
	}
	rd, err := dx.Open(f, size, dx.Limits{MaxFileBytes: m.opts.MaxUploadBytes})
	if err == nil {
		hdr := rd.Header()
		if hdr.Kind != dx.KindUpload || hdr.Node != n.Name || int64(hdr.Number) != num {
			err = fieldsync.Errorf(fieldsync.ErrInvalid, "upload %d: the file is a %s file for node %q numbered %d", num, hdr.Kind, hdr.Node, hdr.Number)
		}
		rd.Close()
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := af.Commit(); err != nil {
		return err
	}
	if err := m.st.NoteUpload(r.Context(), n.Name, num); err != nil {
		return err // the node sends the file again at its next sync
	}
	m.count(s, true, size)
	if m.opts.Uploaded != nil {
		m.opts.Uploaded(n.Name)
	}
	writeJSON(w, http.StatusOK, map[string]any{"number": num})
	return nil
}

func (m *Manager) state(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	st, err := m.nodeState(r.Context(), n)
	if err != nil {
		return err
	}
	st.Session = s.ID
	writeJSON(w, http.StatusOK, st)
	return nil
}

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

// news answers when the node's outbox holds a file numbered above "after"
// (the last one the client applied), or after NewsWait with news false: a
// client in background sync asks it in a loop instead of polling with full
// syncs. It watches the router's committed numbering, so it works across
// processes.
func (m *Manager) news(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	deadline := time.Now().Add(m.opts.NewsWait)
	for {
		nr, err := m.st.NodeRouting(r.Context(), n.Name)
		if err != nil {
			return err
		}
		if nr.OutboxNext-1 > after {
			writeJSON(w, http.StatusOK, map[string]any{"news": true, "outbox_last": nr.OutboxNext - 1})
			return nil
		}
		if time.Now().After(deadline) {
			writeJSON(w, http.StatusOK, map[string]any{"news": false})
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Files is what the Synchronization Manager serves attachment files from.
type Files interface {
	Open(ref fieldsync.FileRef) (*os.File, error)
}

// file serves an attachment file to a node that sees a row carrying it
// (or a row in broadcast mode), ranged so that a broken download resumes.
func (m *Manager) file(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	if m.opts.Files == nil {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "this server keeps no files")
	}
	ref, err := fieldsync.ParseFileRef(r.PathValue("ref"))
	if err != nil {
		return fieldsync.Errorf(fieldsync.ErrInvalid, "%v", err)
	}
	ok, err := m.mayHaveFile(r.Context(), n, ref)
	if err != nil {
		return err
	}
	if !ok {
		return fieldsync.Errorf(fieldsync.ErrNotFound, "node %s sees no row carrying file %s", n.Name, ref)
	}
	f, err := m.opts.Files.Open(ref)
	if err != nil {
		return err
	}
	return m.serve(w, r, s, f, ref.SHA256)
}

// mayHaveFile reports whether a node sees a row carrying the file, or the
// row is in broadcast mode.
func (m *Manager) mayHaveFile(ctx context.Context, n fieldsync.Node, ref fieldsync.FileRef) (bool, error) {
	s := m.st.Schema()
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Type != fieldsync.TypeFile {
				continue
			}
			p, err := m.st.List(ctx, t.Name, fieldsync.Query{Where: map[string]any{c.Name: ref.String()}, Limit: 100})
			if err != nil {
				return false, err
			}
			for _, row := range p.Rows {
				if t.Broadcast(row) {
					return true, nil
				}
				ok, err := visibility.Sees(ctx, m.st, s, n.EmployeeID, t.Name, row.ID())
				if err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return false, nil
}

// FileStore is where nodes' uploaded attachment files go.
type FileStore interface {
	Files
	Have(key string, ref fieldsync.FileRef) int64
	Resume(key string, ref fieldsync.FileRef, offset int64, r io.Reader) (bool, error)
}

// uploadFile takes (a piece of) an attachment file a node created offline,
// from byte X-Fieldsync-Offset on: a broken upload resumes from what the
// server holds (GET .../upload tells). The whole file is checked against
// its reference before it is kept.
func (m *Manager) uploadFile(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error {
	fs, ref, err := m.fileUpload(r)
	if err != nil {
		return err
	}
	offset, _ := strconv.ParseInt(r.Header.Get("X-Fieldsync-Offset"), 10, 64)
	done, err := fs.Resume(n.Name, ref, offset, r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fieldsync.Errorf(fieldsync.ErrTooLarge, "upload larger than %d bytes", tooBig.Limit)
		}
		return err
	}
	have := fs.Have(n.Name, ref)
	m.count(s, true, have-offset)
	writeJSON(w, http.StatusOK, map[string]any{"file": ref.String(), "have": have, "stored": done})
	return nil
}

// fileHave tells how much of a file the server holds from a node's upload.
func (m *Manager) fileHave(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	fs, ref, err := m.fileUpload(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"file": ref.String(), "have": fs.Have(n.Name, ref)})
	return nil
}

func (m *Manager) fileUpload(r *http.Request) (FileStore, fieldsync.FileRef, error) {
	fs, ok := m.opts.Files.(FileStore)
	if !ok {
		return nil, fieldsync.FileRef{}, fieldsync.Errorf(fieldsync.ErrNotFound, "this server keeps no files")
	}
	ref, err := fieldsync.ParseFileRef(r.PathValue("ref"))
	if err != nil {
		return nil, ref, fieldsync.Errorf(fieldsync.ErrInvalid, "%v", err)
	}
	return fs, ref, nil
}

// serve sends a file (ranged: a broken download resumes), counting it in
// the session, and closes it.
func (m *Manager) serve(w http.ResponseWriter, r *http.Request, s *session, f *os.File, name string) error {
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	m.count(s, false, info.Size())
	http.ServeContent(w, r, name, info.ModTime(), f)
	return nil
}
