package syncmgr

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/syncproto"
)

// waitNews answers when the node's outbox holds a file numbered above
// "after" (the last one the client applied), or after NewsWait with news
// false: a client in background sync asks it in a loop instead of polling
// with full syncs. It watches the router's committed numbering, so it
// works across processes. The waiting requests of all nodes share one
// poller; a node may have MaxNodeNews of them, all nodes MaxNewsWaiters.
// A node that says which files it has applied (syncproto.ParamApplied) has
// them deleted first, and its news carries the new files when they are few
// and small, so that it needs no session to get them.
func (m *Manager) waitNews(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	after, _ := strconv.ParseInt(r.URL.Query().Get(syncproto.ParamAfter), 10, 64)
	applied, inline := parseInt(r, syncproto.ParamApplied)
	if inc := r.Header.Get(syncproto.HeaderIncarnation); inc != "" {
		current, err := m.st.Incarnation(r.Context())
		if err != nil {
			return err
		}
		if inc != current { // restored from a backup: a sync catches up
			writeJSON(w, http.StatusOK, syncproto.News{News: true})
			return nil
		}
	}
	if inline {
		m.deleteApplied(n.Name, applied)
	}
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if nr.OutboxNext-1 > after {
		writeJSON(w, http.StatusOK, m.newsOf(n.Name, after, nr.OutboxNext-1, inline))
		return nil
	}
	wt := &newsWaiter{node: n.Name, after: after, last: make(chan int64, 1)}
	if !m.news.add(wt, m.opts.MaxNewsWaiters) {
		return m.refuse(n.Name, "news waiters of all nodes", fieldsync.Errorf(fieldsync.ErrBusy,
			"busy: %d nodes wait for news already, retry later", m.opts.MaxNewsWaiters))
	}
	m.newsWaiting(1)
	if m.park(w, r, wt, inline) {
		return nil // answered from the hub (newspark.go)
	}
	defer m.news.remove(wt)
	defer m.newsWaiting(-1)
	timer := time.NewTimer(m.opts.NewsWait)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
		return nil
	case <-timer.C:
		writeJSON(w, http.StatusOK, syncproto.News{})
	case last := <-wt.last:
		writeJSON(w, http.StatusOK, m.newsOf(n.Name, after, last, inline))
	}
	return nil
}

// newsOf is the news of a node's outbox files after "after" up to last;
// inline, with the files themselves when all of them fit in what news
// carries (syncproto.NewsInlineFiles, NewsInlineBytes), else without.
func (m *Manager) newsOf(node string, after, last int64, inline bool) syncproto.News {
	ans := syncproto.News{News: true, OutboxLast: last}
	if !inline || last-after > syncproto.NewsInlineFiles {
		return ans
	}
	var files []syncproto.NewsedFile
	total := 0
	for num := after + 1; num <= last; num++ {
		data, err := os.ReadFile(m.docking.OutboxFile(node, num))
		total += len(data)
		if err != nil || total > syncproto.NewsInlineBytes {
			return ans // gone (a re-extract), or too much: the node syncs
		}
		files = append(files, syncproto.NewsedFile{Number: num, Data: data})
	}
	ans.Files = files
	m.newsCarried(files)
	return ans
}

// deleteApplied deletes the node's outbox files up to applied, as an
// acknowledgement does (in the background: acknowledged). A listing that
// fails leaves them to the next acknowledgement.
func (m *Manager) deleteApplied(node string, applied int64) {
	files, err := m.outboxFiles(node, applied+1)
	if err != nil {
		m.log.Error("list outbox files to remove", "node", node, "err", err)
		return
	}
	m.acknowledged(node, applied, files)
}

// newsStore reads the outbox numbering of the nodes waiting for news, and
// the router positions, which move whenever any outbox numbering does (a
// router saves both in one transaction).
type newsStore interface {
	OutboxNexts(ctx context.Context, nodes []string) (map[string]int64, error)
	RouterPositions(ctx context.Context) (map[int]int64, error)
}

// newsHub is the one poller of the news requests waiting in this process.
// A router of this process tells it the outbox numbering it saved
// (routed): the waiting requests of those nodes are answered at once. For
// routers of other processes, every poll reads the router positions (a
// few rows, however many requests wait); only when they moved past what it
// has seen, or when requests came since the last look, does it read the
// outbox numbering of the waiting nodes, in one query for all of them. So
// thousands of idle waiters cost next to nothing. It runs while requests
// wait, and stops when none does.
type newsHub struct {
	st   newsStore
	poll time.Duration
	log  *slog.Logger

	mu      sync.Mutex
	waiters map[string]map[*newsWaiter]struct{} // by node
	count   int
	running bool
	added   bool          // waiters came since the last look at the numbering
	seen    map[int]int64 // router positions the waiters were checked against
	routedC chan struct{} // closed (and forgotten) when a router of this process saves its position
}

// newsWaiter is one waiting news request: told on last the node's last
// outbox file once it is numbered above after.
type newsWaiter struct {
	node  string
	after int64
	last  chan int64
	// park, when not nil, holds the request's connection: told, it
	// answers there (newspark.go).
	park *parked
}

func newNewsHub(st newsStore, poll time.Duration, log *slog.Logger) *newsHub {
	return &newsHub{st: st, poll: poll, log: log, waiters: map[string]map[*newsWaiter]struct{}{}}
}

// add registers a waiter, unless limit wait already, and starts the poller
// if it is not running.
func (h *newsHub) add(w *newsWaiter, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count >= limit {
		return false
	}
	ws := h.waiters[w.node]
	if ws == nil {
		ws = map[*newsWaiter]struct{}{}
		h.waiters[w.node] = ws
	}
	ws[w] = struct{}{}
	h.count++
	h.added = true
	if !h.running {
		h.running = true
		go h.run()
	}
	return true
}

func (h *newsHub) remove(w *newsWaiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(w)
}

// drop forgets a waiter; h.mu is held.
func (h *newsHub) drop(w *newsWaiter) bool {
	ws := h.waiters[w.node]
	if _, ok := ws[w]; !ok {
		return false
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.waiters, w.node)
	}
	h.count--
	return true
}

// routed answers the waiters of the nodes a router of this process wrote
// to, and records its new position as seen, so the poller does not look
// again for what it was told.
func (h *newsHub) routed(partition int, position int64, outboxNext map[string]int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.routedC != nil {
		close(h.routedC)
		h.routedC = nil
	}
	if h.seen != nil && h.seen[partition] < position {
		h.seen[partition] = position
	}
	for node, next := range outboxNext {
		for w := range h.waiters[node] {
			if next-1 > w.after {
				h.tellLocked(w, next-1)
			}
		}
	}
}

// run polls until no request waits.
func (h *newsHub) run() {
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	for range tick.C {
		positions, err := h.positions()
		if err != nil {
			continue
		}
		waiting, ok := h.toCheck(positions)
		if !ok {
			return
		}
		if len(waiting) == 0 {
			continue // nothing routed elsewhere since the last look
		}
		nodes := make([]string, 0, len(waiting))
		for node := range waiting {
			nodes = append(nodes, node)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		next, err := h.st.OutboxNexts(ctx, nodes)
		cancel()
		if err != nil {
			h.log.Warn("read outbox numbering for news", "nodes", len(nodes), "err", err)
			h.forget()
			continue
		}
		h.mu.Lock()
		for node, ws := range waiting {
			for _, w := range ws {
				if last := next[node] - 1; last > w.after {
					h.tellLocked(w, last)
				}
			}
		}
		h.mu.Unlock()
	}
}

// positions reads the router positions.
func (h *newsHub) positions() (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := h.st.RouterPositions(ctx)
	if err != nil {
		h.log.Warn("read router positions for news", "err", err)
	}
	return p, err
}

// toCheck returns the waiters to check against the outbox numbering, by
// node: all of them when the router positions moved past what was seen
// or waiters came since the last look, else none. It reports false (and
// marks the poller stopped) when no request waits.
func (h *newsHub) toCheck(positions map[int]int64) (map[string][]*newsWaiter, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count == 0 {
		h.running = false
		return nil, false
	}
	if !h.added && maps.Equal(positions, h.seen) {
		return nil, true
	}
	h.added, h.seen = false, positions
	out := make(map[string][]*newsWaiter, len(h.waiters))
	for node, ws := range h.waiters {
		for w := range ws {
			out[node] = append(out[node], w)
		}
	}
	return out, true
}

// forget makes the next look check every waiter (after a failed one).
func (h *newsHub) forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = nil
}

// tellLocked gives a waiter its news, once; h.mu is held.
func (h *newsHub) tellLocked(w *newsWaiter, last int64) {
	if !h.drop(w) {
		return
	}
	if w.park != nil {
		go w.park.tell(last)
		return
	}
	w.last <- last
}
