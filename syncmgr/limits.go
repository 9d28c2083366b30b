package syncmgr

import (
	"context"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/internal/httperr"
)

// Defaults of the limits one node has of the Synchronization Manager
// (docs/sync.md "Limits").
const (
	DefaultMaxNodeSessions = 2
	DefaultMaxNodeRequests = 8
	DefaultMaxNodeNews     = 2
	DefaultMaxNewsWaiters  = 1000
	DefaultMaxSessions     = 256      // of all nodes
	DefaultMaxUploadBytes  = 64 << 20 // one upload file, compressed
	DefaultUploadsAhead    = 16
	// A node's uploads merged and files stored over a day may write this
	// much before its next upload waits.
	DefaultMaxNodeDailyBytes   = 2 << 30
	DefaultMaxNodeDailyInserts = 200_000
)

// access says what a request holds of the node's share while it runs.
type access int

const (
	plain     access = iota // a request outside a session
	inSession               // a request inside the node's session
	longPoll                // a news request: it waits, so it counts apart
)

// nodeLoad is what one node holds of this process at once.
type nodeLoad struct {
	requests int // requests in flight (news apart)
	news     int // news requests waiting
}

// acquire takes one request (or, for a long poll, one news wait) of the
// node's share, or says why not; the returned func gives it back.
func (m *Manager) acquire(node string, a access) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.loads[node]
	if l == nil {
		l = &nodeLoad{}
		m.loads[node] = l
	}
	count, limit, what := &l.requests, m.opts.MaxNodeRequests, "requests in flight"
	if a == longPoll {
		count, limit, what = &l.news, m.opts.MaxNodeNews, "news requests waiting"
	}
	if *count >= limit {
		return nil, m.refuse(node, what, fieldsync.Errorf(fieldsync.ErrNodeLimit,
			"node %s has %d %s, its limit: retry once one is done", node, limit, what))
	}
	*count++
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		*count--
		if l.requests == 0 && l.news == 0 {
			delete(m.loads, node)
			m.lastSeen[node] = time.Now()
		}
	}, nil
}

// refuse logs a refusal for being over a limit (at most one line per node
// and limit a minute, counting those left out) and returns err to be
// answered with a Retry-After.
func (m *Manager) refuse(node, limit string, err error) error {
	if rep, ok := m.refusals.note(node + "\x00" + limit); ok {
		m.log.Warn("refused a node over its limit", "node", node, "limit", limit, "suppressed", rep)
	}
	return httperr.WithRetryAfter(err, time.Second)
}

// logLimiter lets one log line a minute through per key, counting the
// ones it held back. It forgets every key when it holds too many, so
// that it stays small.
type logLimiter struct {
	mu   sync.Mutex
	keys map[string]*logged
}

type logged struct {
	at         time.Time
	suppressed int
}

// note reports whether a line about key should be logged now, and how
// many were held back since the last one.
func (l *logLimiter) note(key string) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.keys == nil || len(l.keys) > 10_000 {
		l.keys = map[string]*logged{}
	}
	e := l.keys[key]
	if e != nil && now.Sub(e.at) < time.Minute {
		e.suppressed++
		return 0, false
	}
	n := 0
	if e != nil {
		n = e.suppressed
	}
	l.keys[key] = &logged{at: now}
	return n, true
}

// uploadWindow refuses an upload numbered past the next few the node may
// send: uploads wait in the server inbox until merged in order, so a node
// holds at most UploadsAhead of them there.
func (m *Manager) uploadWindow(node string, num, lastMerged int64) error {
	if num <= lastMerged+int64(m.opts.UploadsAhead) {
		return nil
	}
	return m.refuse(node, "uploads ahead", fieldsync.Errorf(fieldsync.ErrNodeLimit,
		"upload %d is too far ahead: the server merged up to %d and takes uploads up to %d; send the others once those are merged",
		num, lastMerged, lastMerged+int64(m.opts.UploadsAhead)))
}

// errNodeSessions is the refusal of a session past the node's limit.
func (m *Manager) errNodeSessions(node string) error {
	return m.refuse(node, "sessions", fieldsync.Errorf(fieldsync.ErrNodeLimit,
		"node %s has %d sessions open, its limit, all in use: end one first", node, m.opts.MaxNodeSessions))
}

// dailyLimits refuses a node's next upload (of changes or of a file) once
// what it wrote on the server over the last day (bytes of values and of
// whole files, rows inserted) reached its limit: the node keeps its
// changes and sends them once the day's older uploads age out.
func (m *Manager) dailyLimits(ctx context.Context, node string) error {
	since := time.Now().Add(-24 * time.Hour)
	u, err := m.st.Usage(ctx, node, since)
	if err != nil {
		return err
	}
	if fs, ok := m.opts.Files.(FileStore); ok {
		files, err := fs.UploadedSince(node, since)
		if err != nil {
			return err
		}
		u.Bytes += files
	}
	var over error
	switch {
	case u.Bytes >= m.opts.MaxNodeDailyBytes:
		over = fieldsync.Errorf(fieldsync.ErrNodeLimit, "node %s wrote %d bytes on the server in the last 24 hours, its limit of %d: its next uploads wait",
			node, u.Bytes, m.opts.MaxNodeDailyBytes)
	case u.Inserts >= m.opts.MaxNodeDailyInserts:
		over = fieldsync.Errorf(fieldsync.ErrNodeLimit, "node %s inserted %d rows on the server in the last 24 hours, its limit of %d: its next uploads wait",
			node, u.Inserts, m.opts.MaxNodeDailyInserts)
	default:
		return nil
	}
	if rep, ok := m.refusals.note(node + "\x00daily"); ok {
		m.log.Warn("refused a node over its daily limit", "node", node, "bytes", u.Bytes, "inserts", u.Inserts, "suppressed", rep)
	}
	return httperr.WithRetryAfter(over, 10*time.Minute)
}
