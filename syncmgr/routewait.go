package syncmgr

import (
	"context"
	"time"
)

// waitRouted waits, at most RouteWait, until every router partition has
// routed the transactions logged before the call: a sync that starts just
// after a connected user's write then finds it in the node's outbox,
// instead of at the next sync. A router of this process wakes it as it
// saves its position; those of other processes are polled every 5 ms. It
// gives up quietly (the sync goes on with what is routed) on errors and
// when no router has routed anything yet.
func (m *Manager) waitRouted(ctx context.Context) {
	if m.opts.RouteWait < 0 {
		return
	}
	last, err := m.st.LastLogSeq(ctx)
	if err != nil {
		return
	}
	deadline := time.Now().Add(m.opts.RouteWait)
	for {
		woken := m.news.routedSignal()
		positions, err := m.st.RouterPositions(ctx)
		if err != nil || len(positions) == 0 {
			return
		}
		behind := false
		for _, p := range positions {
			behind = behind || p < last
		}
		wait := time.Until(deadline)
		if !behind || wait <= 0 {
			return
		}
		t := time.NewTimer(min(wait, 5*time.Millisecond))
		select {
		case <-woken:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
	}
}

// routedSignal returns a channel closed the next time a router of this
// process saves its position.
func (h *newsHub) routedSignal() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.routedC == nil {
		h.routedC = make(chan struct{})
	}
	return h.routedC
}
