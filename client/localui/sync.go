package localui

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/client"
)

// watchWait is the longest a GET /api/v1/sync?after=N waits for news.
const watchWait = 25 * time.Second

// SyncState is what the view knows of its syncs: Version grows at every
// change, so a watcher asks for the state after the version it has.
type SyncState struct {
	Version  int64            `json:"version"`
	Running  bool             `json:"running"`
	Progress *client.Progress `json:"progress,omitempty"`
	// Last is the summary of the latest finished sync, Error its failure ("" when it went well).
	Last  *client.Summary `json:"last,omitempty"`
	Error string          `json:"error,omitempty"`
}

// set changes the state under the lock and wakes the watchers.
func (s *Server) set(change func(*SyncState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.state)
	s.state.Version++
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) snapshot() (SyncState, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.changed
}

// StartSync starts a sync in the background unless one runs; it reports
// whether it started one.
func (s *Server) StartSync() bool {
	started := false
	s.set(func(st *SyncState) {
		if st.Running || s.ctx.Err() != nil {
			return
		}
		started = true
		st.Running, st.Progress, st.Error = true, nil, ""
	})
	if !started {
		return false
	}
	s.wg.Add(1)
	go s.runSync(s.ctx)
	return true
}

func (s *Server) runSync(ctx context.Context) {
	defer s.wg.Done()
	sum, err := s.c.Sync(ctx, client.SyncOptions{Apply: true, Progress: func(p client.Progress) {
		s.set(func(st *SyncState) { st.Progress = &p })
	}})
	s.set(func(st *SyncState) {
		st.Running, st.Last = false, &sum
		if err != nil {
			st.Error = err.Error()
		}
	})
	if err != nil {
		s.log.Warn("sync failed", "err", err)
	} else {
		s.log.Info("sync done", "uploaded", sum.Uploaded, "applied", sum.Applied)
	}
}

func (s *Server) startSync(w http.ResponseWriter, r *http.Request) {
	started := s.StartSync()
	st, _ := s.snapshot()
	status := http.StatusAccepted
	if !started && !st.Running {
		s.fail(w, r, fieldsync.Errorf(fieldsync.ErrBusy, "the view is closing"))
		return
	}
	writeJSON(w, status, st)
}

// watchSync answers the sync state at once, or with ?after=VERSION once it
// is past that version (at most watchWait later: then as it is).
func (s *Server) watchSync(w http.ResponseWriter, r *http.Request) {
	after := int64(-1)
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.fail(w, r, fieldsync.Errorf(fieldsync.ErrInvalid, "after %q is not a version", v))
			return
		}
		after = n
	}
	timer := time.NewTimer(watchWait)
	defer timer.Stop()
	for {
		st, changed := s.snapshot()
		if st.Version > after {
			writeJSON(w, http.StatusOK, st)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			writeJSON(w, http.StatusOK, st)
			return
		case <-r.Context().Done():
			return
		case <-s.ctx.Done():
			writeJSON(w, http.StatusOK, st)
			return
		}
	}
}
