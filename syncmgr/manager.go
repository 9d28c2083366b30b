package syncmgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
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
	LogState(ctx context.Context) (fieldsync.LogState, error)
	fieldsync.Conflicts
	fieldsync.SyncSessions
	Schema() *fieldsync.Schema
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	NodeRouting(ctx context.Context, name string) (fieldsync.NodeRouting, error)
	// ClaimFolder makes folder the node's current one (a client init),
	// asking for a fresh extract when it had another; it returns the node
	// as it was.
	ClaimFolder(ctx context.Context, node, folder string) (fieldsync.NodeRouting, error)
	RouterPositions(ctx context.Context) (map[int]int64, error)
	// LastLogSeq is the number of the last transaction logged.
	LastLogSeq(ctx context.Context) (int64, error)
	// RequestExtract asks for a new Database Extract of the node.
	RequestExtract(ctx context.Context, node string) error
	fieldsync.Recoveries
	// Incarnation is the server database's incarnation (a new one after a
	// restore from a backup).
	Incarnation(ctx context.Context) (string, error)
	newsStore
}

// Options configures the Synchronization Manager.
type Options struct {
	// MaxSessions is how many sessions may run at once (default 256).
	MaxSessions int
	// MaxNodeSessions is how many of them one node may hold (default 2):
	// a node at its limit that starts another ends its least recently
	// used one, unless every one has a request running (then it is
	// refused).
	MaxNodeSessions int
	// MaxNodeRequests is how many requests of one node may run at once,
	// news waits apart (default 8).
	MaxNodeRequests int
	// MaxNodeNews is how many news requests of one node may wait at once
	// (default 2); MaxNewsWaiters how many of all nodes (default 1000).
	MaxNodeNews, MaxNewsWaiters int
	// UploadsAhead is how far past its last merged upload a node's upload
	// may be numbered (default 16).
	UploadsAhead int
	// MaxNodeDailyBytes and MaxNodeDailyInserts bound what one node's
	// uploads write on the server over a day: bytes of values and whole
	// files (default 2 GiB), rows inserted (default 200,000).
	MaxNodeDailyBytes, MaxNodeDailyInserts int64
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
	// RouteWait is how long a sync's start waits for the routers to route
	// what was logged before it (default 100 ms; negative: not at all), so
	// that a sync gets a connected user's write committed just before it.
	RouteWait time.Duration
	// SettleWait is how long a state request asking for its uploads to be
	// settled waits for the merge and the routers (default 5 s).
	SettleWait time.Duration
	// Coalesce tunes the coalescing of the outbox files of nodes away
	// (coalesce.go).
	Coalesce Coalesce
	// NewsPoll is how often the waiting news requests' outboxes are
	// checked, with one query for all of them (default 50 ms).
	NewsPoll time.Duration
	// Uploaded is called after a node's upload is durable (wakes the merger).
	Uploaded func(node string)
	// ExtractWanted is called after a client init asked for a fresh
	// extract (wakes the Database Extract).
	ExtractWanted func()
	// Logins says how failed logins are slowed (zero: the defaults).
	Logins loginguard.Config
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// says the client's address (loginguard.ClientAddr); none: the header
	// is ignored.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Recorder is told of sessions, transfers and news waits (nil:
	// nothing recorded).
	Recorder Recorder
}

// Manager is the Synchronization Manager.
type Manager struct {
	st      Store
	docking docking.Folder
	opts    Options
	log     *slog.Logger
	logins  *loginguard.Guard

	news     *newsHub
	refusals logLimiter
	removals removals
	// coalescer coalesces the outbox files of nodes away.
	coalescer coalescer
	burst     burstRelease
	// background counts the ended sessions being recorded; ending holds
	// their ids meanwhile.
	background sync.WaitGroup
	ending     map[string]bool

	mu       sync.Mutex
	sessions map[string]*session
	loads    map[string]*nodeLoad
	// lastSeen is when each node's last request ended, while it is
	// recent (away).
	lastSeen map[string]time.Time
	// lostAsked is when each node last asked for an extract for a lost file.
	lostAsked map[string]time.Time
	// probed is when each node's last sync that found nothing new was
	// recorded (recordProbe).
	probed map[string]time.Time
}

// New returns a Synchronization Manager over the docking folder.
func New(st Store, dock docking.Folder, opts Options) *Manager {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 2 * time.Minute
	}
	if opts.NewsWait <= 0 {
		opts.NewsWait = 25 * time.Second
	}
	if opts.RouteWait == 0 {
		opts.RouteWait = 100 * time.Millisecond
	}
	if opts.SettleWait <= 0 {
		opts.SettleWait = 5 * time.Second
	}
	if opts.NewsPoll <= 0 {
		opts.NewsPoll = 50 * time.Millisecond
	}
	opts = opts.withLimits()
	opts.Coalesce = opts.Coalesce.withDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("component", "Synchronization Manager")
	return &Manager{st: st, docking: dock, opts: opts, log: log, logins: loginguard.New(opts.Logins),
		news: newNewsHub(st, opts.NewsPoll, log), sessions: map[string]*session{}, ending: map[string]bool{}, loads: map[string]*nodeLoad{}, lastSeen: map[string]time.Time{}, lostAsked: map[string]time.Time{}, probed: map[string]time.Time{}}
}

// withLimits fills in the default limits of one node.
func (opts Options) withLimits() Options {
	for _, l := range []struct {
		v   *int
		def int
	}{{&opts.MaxNodeSessions, DefaultMaxNodeSessions}, {&opts.MaxNodeRequests, DefaultMaxNodeRequests},
		{&opts.MaxNodeNews, DefaultMaxNodeNews}, {&opts.MaxNewsWaiters, DefaultMaxNewsWaiters},
		{&opts.UploadsAhead, DefaultUploadsAhead}} {
		if *l.v <= 0 {
			*l.v = l.def
		}
	}
	if opts.MaxNodeDailyBytes <= 0 {
		opts.MaxNodeDailyBytes = DefaultMaxNodeDailyBytes
	}
	if opts.MaxNodeDailyInserts <= 0 {
		opts.MaxNodeDailyInserts = DefaultMaxNodeDailyInserts
	}
	return opts
}

// Routed tells the news requests waiting in this process that a router
// of this process saved its position and the nodes' new outbox numbering:
// those of the nodes it wrote to are answered at once, without a query.
// Without it they see their news at the next NewsPoll.
func (m *Manager) Routed(partition int, position int64, outboxNext map[string]int64) {
	m.news.routed(partition, position, outboxNext)
	m.routedFiles(outboxNext)
}

// Handler returns the endpoints, to be mounted at the server's root.
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(syncproto.RouteStart, m.node(m.start, plain))
	mux.Handle(syncproto.RouteEnd, m.node(m.end, plain))
	mux.Handle(syncproto.RouteExtract, m.node(m.extract, inSession))
	mux.Handle(syncproto.RouteOutbox, m.node(m.outbox, inSession))
	mux.Handle(syncproto.RouteOutboxFile, m.node(m.outboxFile, inSession))
	mux.Handle(syncproto.RouteOutboxBatch, m.node(m.outboxBatch, inSession))
	mux.Handle(syncproto.RouteAck, m.node(m.ack, inSession))
	mux.Handle(syncproto.RouteUpload, m.node(m.upload, inSession))
	mux.Handle(syncproto.RouteState, m.node(m.state, inSession))
	mux.Handle(syncproto.RouteNews, m.node(m.waitNews, longPoll))
	mux.Handle(syncproto.RouteFile, m.node(m.file, inSession))
	mux.Handle(syncproto.RouteFileUpload, m.node(m.uploadFile, inSession))
	mux.Handle(syncproto.RouteFileHave, m.node(m.fileHave, inSession))
	mux.Handle(syncproto.RouteRow, m.node(m.row, inSession))
	mux.Handle(syncproto.RouteInit, m.node(m.init, inSession))
	mux.Handle(syncproto.RouteLost, m.node(m.lost, inSession))
	return mux
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, n fieldsync.Node, s *session) error

// node authenticates the request as a node (HTTP Basic: name and secret),
// takes its place in the node's share (a node past its limit of requests
// or news waits is refused) and, inSession, finds its session (header
// syncproto.HeaderSession). Every error is answered as internal/httperr's
// table says.
func (m *Manager) node(next handlerFunc, a access) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := m.authenticate(r)
		if err == nil {
			err = m.checkFolder(n, r.Header.Get(syncproto.HeaderFolder))
		}
		if err != nil {
			httperr.Write(w, r, m.log, err)
			return
		}
		release, err := m.acquire(n.Name, a)
		if err != nil {
			httperr.Write(w, r, m.log, err)
			return
		}
		held := &share{release: release}
		defer held.give()
		if a == longPoll { // a parked news request keeps it (newspark.go)
			r = r.WithContext(context.WithValue(r.Context(), shareKey{}, held))
		}
		var s *session
		if a == inSession {
			if s = m.session(r.Context(), r.Header.Get(syncproto.HeaderSession), n.Name); s == nil {
				httperr.Write(w, r, m.log, fieldsync.Errorf(fieldsync.ErrNoSession,
					"no open session: start one with POST %s", syncproto.SessionsPath))
				return
			}
			m.enter(s)
			defer m.done(s)
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
	remote := loginguard.ClientAddr(r, m.opts.TrustedProxies)
	keys := []loginguard.Key{loginguard.Name(name), loginguard.Addr(remote)}
	if wait := m.logins.Wait(keys...); wait > 0 {
		m.logFailure(m.logins.Refused(keys...), "throttled", name, remote)
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
		m.logFailure(m.logins.Fail(keys...), reason, name, remote)
		return fieldsync.Node{}, fieldsync.Errorf(fieldsync.ErrUnauthorized, "unknown node or wrong secret")
	}
	m.logins.Succeed(keys[0])
	if !n.Active {
		m.log.Warn("refused deactivated node", "node", name, "remote", remote)
		return n, fieldsync.Errorf(fieldsync.ErrNodeDeactivated, "node %q is deactivated", name)
	}
	return n, nil
}

// logFailure logs a refused login unless the guard says another line
// about its name or address was logged lately; the line counts those left
// unlogged since. remote is the client's address.
func (m *Manager) logFailure(rep loginguard.Report, reason, name, remote string) {
	if rep.Log {
		m.log.Warn("refused login", "reason", reason, "node", fmt.Sprintf("%.64q", name), "remote", remote,
			"failures", rep.Failures, "suppressed", rep.Suppressed)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
