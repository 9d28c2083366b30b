package syncmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/internal/httperr"
	"github.com/fieldsync/fieldsync/internal/loginguard"
	"github.com/fieldsync/fieldsync/syncproto"
)

// Store is what the Synchronization Manager needs of the server database.
type Store interface {
	fieldsync.Reader
	fieldsync.Uploads
	fieldsync.Conflicts
	fieldsync.SyncSessions
	Schema() *fieldsync.Schema
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	NodeRouting(ctx context.Context, name string) (fieldsync.NodeRouting, error)
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
	// Logins says how failed logins are slowed (zero: the defaults).
	Logins loginguard.Config
	Logger *slog.Logger
}

// Manager is the Synchronization Manager.
type Manager struct {
	st      Store
	docking docking.Folder
	opts    Options
	log     *slog.Logger
	logins  *loginguard.Guard

	mu       sync.Mutex
	sessions map[string]*session
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
		logins: loginguard.New(opts.Logins), sessions: map[string]*session{}}
}

// Handler returns the endpoints, to be mounted at the server's root.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(syncproto.RouteStart, m.node(m.start, false))
	mux.Handle(syncproto.RouteEnd, m.node(m.end, false))
	mux.Handle(syncproto.RouteExtract, m.node(m.extract, true))
	mux.Handle(syncproto.RouteOutbox, m.node(m.outbox, true))
	mux.Handle(syncproto.RouteOutboxFile, m.node(m.outboxFile, true))
	mux.Handle(syncproto.RouteAck, m.node(m.ack, true))
	mux.Handle(syncproto.RouteUpload, m.node(m.upload, true))
	mux.Handle(syncproto.RouteState, m.node(m.state, true))
	mux.Handle(syncproto.RouteNews, m.node(m.news, false))
	mux.Handle(syncproto.RouteFile, m.node(m.file, true))
	mux.Handle(syncproto.RouteFileUpload, m.node(m.uploadFile, true))
	mux.Handle(syncproto.RouteFileHave, m.node(m.fileHave, true))
	mux.Handle(syncproto.RouteRow, m.node(m.row, true))
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error

// node authenticates the request as a node (HTTP Basic: name and secret)
// and, when inSession, finds its session (header syncproto.HeaderSession).
// Every error is answered as internal/httperr's table says.
func (m *Manager) node(next handlerFunc, inSession bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := m.authenticate(r)
		if err != nil {
			httperr.Write(w, r, m.log, err)
			return
		}
		var s *session
		if inSession {
			if s = m.session(r.Context(), r.Header.Get(syncproto.HeaderSession), n.Name); s == nil {
				httperr.Write(w, r, m.log, fieldsync.Errorf(fieldsync.ErrNoSession,
					"no open session: start one with POST %s", syncproto.SessionsPath))
				return
			}
		}
		if err := next(w, r, n, s); err != nil {
			httperr.Write(w, r, m.log.With("node", n.Name), err)
		}
	})
}

// authenticate returns the request's node, or says why it is refused:
// no credentials or a bad login (unauthorized: an unknown node and a wrong
// secret get the same answer, so that names cannot be tried out; the log
// says which), a name or address that failed too often lately
// (throttled), or a deactivated node.
func (m *Manager) authenticate(r *http.Request) (fieldsync.Node, error) {
	name, secret, ok := r.BasicAuth()
	if !ok {
		return fieldsync.Node{}, fieldsync.Errorf(fieldsync.ErrUnauthorized, "missing node credentials (HTTP Basic: node name and secret)")
	}
	keys := []loginguard.Key{loginguard.Name(name), loginguard.Addr(r.RemoteAddr)}
	if wait := m.logins.Wait(keys...); wait > 0 {
		m.logFailure(m.logins.Refused(keys...), "throttled", name, r)
		return fieldsync.Node{}, loginguard.Throttled(wait)
	}
	n, hash, err := m.st.Node(r.Context(), name)
	known := err == nil
	if err != nil && !errors.Is(err, fieldsync.ErrNodeUnknown) {
		return n, fmt.Errorf("look up node %q: %w", name, err)
	}
	if matches := fieldsync.SecretMatches(secret, hash); !known || !matches { // the same work either way
		reason := "unknown node"
		if known {
			reason = "wrong secret"
		}
		m.logFailure(m.logins.Fail(keys...), reason, name, r)
		return fieldsync.Node{}, fieldsync.Errorf(fieldsync.ErrUnauthorized, "unknown node or wrong secret")
	}
	m.logins.Succeed(keys[0])
	if !n.Active {
		m.log.Warn("refused deactivated node", "node", name, "remote", r.RemoteAddr)
		return n, fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", name)
	}
	return n, nil
}

// logFailure logs a refused login unless the guard says another line
// about its name or address was logged lately; the line counts those left
// unlogged since.
func (m *Manager) logFailure(rep loginguard.Report, reason, name string, r *http.Request) {
	if rep.Log {
		m.log.Warn("refused login", "reason", reason, "node", fmt.Sprintf("%.64q", name), "remote", r.RemoteAddr,
			"failures", rep.Failures, "suppressed", rep.Suppressed)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
