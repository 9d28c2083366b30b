package syncmgr

import (
	"context"
	"log/slog"
	"net/http"
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
func (m *Manager) waitNews(w http.ResponseWriter, r *http.Request, n fieldsync.Node, _ *session) error {
	after, _ := strconv.ParseInt(r.URL.Query().Get(syncproto.ParamAfter), 10, 64)
	nr, err := m.st.NodeRouting(r.Context(), n.Name)
	if err != nil {
		return err
	}
	if nr.OutboxNext-1 > after {
		writeJSON(w, http.StatusOK, syncproto.News{News: true, OutboxLast: nr.OutboxNext - 1})
		return nil
	}
	wt := &newsWaiter{node: n.Name, after: after, last: make(chan int64, 1)}
	if !m.news.add(wt, m.opts.MaxNewsWaiters) {
		return m.refuse(n.Name, "news waiters of all nodes", fieldsync.Errorf(fieldsync.ErrBusy,
			"busy: %d nodes wait for news already, retry later", m.opts.MaxNewsWaiters))
	}
	defer m.news.remove(wt)
	timer := time.NewTimer(m.opts.NewsWait)
	defer timer.Stop()
	select {
	case <-r.Context().Done():
		return nil
	case <-timer.C:
		writeJSON(w, http.StatusOK, syncproto.News{})
	case last := <-wt.last:
		writeJSON(w, http.StatusOK, syncproto.News{News: true, OutboxLast: last})
	}
	return nil
}

// newsStore reads the outbox numbering of the nodes waiting for news.
type newsStore interface {
	OutboxNexts(ctx context.Context, nodes []string) (map[string]int64, error)
}

// newsHub is the one poller of the news requests waiting in this process:
// one query every poll (or when woken) for all of them. It runs while
// requests wait, and stops when none does.
type newsHub struct {
	st   newsStore
	poll time.Duration
	log  *slog.Logger
	woke chan struct{}

	mu      sync.Mutex
	waiters map[*newsWaiter]struct{}
	running bool
}

// newsWaiter is one waiting news request: told on last the node's last
// outbox file once it is numbered above after.
type newsWaiter struct {
	node  string
	after int64
	last  chan int64
}

func newNewsHub(st newsStore, poll time.Duration, log *slog.Logger) *newsHub {
	return &newsHub{st: st, poll: poll, log: log, woke: make(chan struct{}, 1), waiters: map[*newsWaiter]struct{}{}}
}

// add registers a waiter, unless limit wait already, and starts the poller
// if it is not running.
func (h *newsHub) add(w *newsWaiter, limit int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.waiters) >= limit {
		return false
	}
	h.waiters[w] = struct{}{}
	if !h.running {
		h.running = true
		go h.run()
	}
	return true
}

func (h *newsHub) remove(w *newsWaiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters, w)
}

// wake makes the poller look now.
func (h *newsHub) wake() {
	select {
	case h.woke <- struct{}{}:
	default:
	}
}

// run polls until no request waits.
func (h *newsHub) run() {
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-h.woke:
		}
		waiting := h.waiting()
		if waiting == nil {
			return
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
			continue
		}
		for node, ws := range waiting {
			for _, w := range ws {
				if last := next[node] - 1; last > w.after {
					h.tell(w, last)
				}
			}
		}
	}
}

// waiting returns the waiters by node, or nil (and marks the poller
// stopped) when there are none.
func (h *newsHub) waiting() map[string][]*newsWaiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.waiters) == 0 {
		h.running = false
		return nil
	}
	out := map[string][]*newsWaiter{}
	for w := range h.waiters {
		out[w.node] = append(out[w.node], w)
	}
	return out
}

// tell gives a waiter its news, once.
func (h *newsHub) tell(w *newsWaiter, last int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.waiters[w]; ok {
		delete(h.waiters, w)
		w.last <- last
	}
}
