package syncmgr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync/syncproto"
)

// A news request that has to wait is taken out of net/http: its
// connection is hijacked and parked with the hub, so that a node waiting
// costs its connection and a few hundred bytes instead of a goroutine, its
// stack and net/http's buffers (thousands of nodes wait at once). When
// news comes, or NewsWait passes, the answer is written on the connection
// and the connection closed (Connection: close): the client opens another
// for its next request. That is a new TCP connection on plain HTTP (behind
// a proxy that terminates TLS, the proxy's to this server), but it would be
// a TLS handshake per answer for every node on HTTPS: a request over TLS
// waits in its handler and keeps its connection, as does an HTTP/2 one,
// which cannot be hijacked.

// share is a request's place in its node's share (acquire), given back
// when its handler returns, unless a parked request took it along.
type share struct {
	mu      sync.Mutex
	release func()
}

type shareKey struct{}

// give gives the place back, once.
func (s *share) give() {
	s.mu.Lock()
	f := s.release
	s.release = nil
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

// take returns the give-back of the request's place, and makes the
// handler's return keep it.
func takeShare(r *http.Request) func() {
	s, _ := r.Context().Value(shareKey{}).(*share)
	if s == nil {
		return func() {}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.release
	s.release = nil
	if f == nil {
		return func() {}
	}
	return f
}

// parked is a waiting news request whose connection the hub holds.
type parked struct {
	conn   net.Conn
	header http.Header // set by the handlers before this one
	timer  *time.Timer
	tell   func(last int64) // answers news up to last (0: none)
}

// park hijacks w's connection for waiter wt (added to the hub already)
// and answers it later; false when the connection cannot be hijacked.
func (m *Manager) park(w http.ResponseWriter, r *http.Request, wt *newsWaiter, inline bool) bool {
	if r.TLS != nil || r.ProtoMajor != 1 {
		return false
	}
	header := w.Header().Clone()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	giveBack := takeShare(r)
	if brw.Reader.Buffered() > 0 {
		// A request sent behind this one on the connection: it is lost with
		// the connection's close, as any request sent on a closing one.
		m.log.Debug("news: a request pipelined behind a news request is dropped", "node", wt.node)
	}
	conn.SetDeadline(time.Time{}) // the server's read and write timeouts are for requests in net/http
	p := &parked{conn: conn, header: header}
	p.tell = func(last int64) {
		p.timer.Stop()
		ans := syncproto.News{}
		if last > 0 {
			ans = m.newsOf(wt.node, wt.after, last, inline)
		}
		m.answerParked(p, ans)
		m.newsWaiting(-1)
		giveBack()
	}
	// The hub may tell the waiter before the timer is set: tell waits for
	// it under the hub's lock, which park holds while it sets both.
	m.news.mu.Lock()
	wt.park = p
	p.timer = time.AfterFunc(m.opts.NewsWait, func() {
		if m.news.take(wt) {
			p.tell(0)
		}
	})
	var pending int64
	select {
	case pending = <-wt.last: // told before it was parked
	default:
	}
	m.news.mu.Unlock()
	if pending > 0 {
		go p.tell(pending)
	}
	m.burst.parkedOne()
	return true
}

// answerParked writes a news answer on a parked connection and closes it.
func (m *Manager) answerParked(p *parked, ans syncproto.News) {
	body, err := json.Marshal(ans)
	if err != nil {
		p.conn.Close()
		return
	}
	body = append(body, '\n')
	var head bytes.Buffer
	fmt.Fprintf(&head, "HTTP/1.1 200 OK\r\n")
	p.header.Set("Content-Type", "application/json")
	p.header.Set("Content-Length", fmt.Sprint(len(body)))
	p.header.Set("Connection", "close")
	p.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	p.header.Write(&head)
	head.WriteString("\r\n")
	p.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := p.conn.Write(append(head.Bytes(), body...)); err != nil {
		m.log.Debug("news: the node went away before its answer", "err", err)
	}
	p.conn.Close()
}

// take forgets a waiter and reports whether it was still waiting (so that
// exactly one of the news and the timer answers it).
func (h *newsHub) take(w *newsWaiter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.drop(w)
}

// CloseNews answers every parked news request with no news and closes its
// connection, for a server shutting down (net/http no longer knows them).
func (m *Manager) CloseNews() {
	h := m.news
	h.mu.Lock()
	var ps []*parked
	for _, ws := range h.waiters {
		for w := range ws {
			if w.park != nil && h.drop(w) {
				ps = append(ps, w.park)
			}
		}
	}
	h.mu.Unlock()
	for _, p := range ps {
		p.tell(0)
	}
}
