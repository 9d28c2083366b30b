package server

import (
	"context"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/filestore"
)

// every runs a maintenance task every GCEvery (default 1 h) until ctx
// ends; a failure is logged and the task tried again next time.
func (s *Server) every(ctx context.Context, task func() error) error {
	every := s.cfg.GCEvery
	if every <= 0 {
		every = time.Hour
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
		if err := task(); err != nil && ctx.Err() == nil {
			s.log.Error("maintenance failed", "err", err)
		}
	}
}

// keepHistory is how long rows' change history is kept (KeepHistory).
func (s *Server) keepHistory() time.Duration {
	if s.cfg.KeepHistory <= 0 {
		return 365 * 24 * time.Hour
	}
	return s.cfg.KeepHistory
}

func (s *Server) fileGrace() time.Duration {
	if s.cfg.FileGrace <= 0 {
		return 24 * time.Hour
	}
	return s.cfg.FileGrace
}

// PruneSessions deletes the records of sessions that ended longer ago than
// KeepSessions, keeping each node's latest, and returns how many it deleted;
// damaged-file events older than that go too, and rows' change history
// older than KeepHistory.
func (s *Server) PruneSessions(ctx context.Context) (int64, error) {
	keep := s.cfg.KeepSessions
	if keep <= 0 {
		keep = 30 * 24 * time.Hour
	}
	n, err := s.st.PruneSessions(ctx, time.Now().Add(-keep))
	if n > 0 {
		s.log.Info("pruned old session records", "sessions", n)
	}
	if err != nil {
		return n, err
	}
	if h, err := s.st.PruneHistory(ctx, time.Now().Add(-s.keepHistory())); err != nil {
		return n, err
	} else if h > 0 {
		s.log.Info("pruned old history entries", "entries", h)
	}
	// Damaged-file events are kept as long as session records.
	if r, err := s.st.PruneRecoveries(ctx, time.Now().Add(-keep)); err != nil {
		return n, err
	} else if r > 0 {
		s.log.Info("pruned old damaged-file events", "events", r)
	}
	return n, nil
}

// GCFiles removes the attachment files no row names that are older than
// grace, and returns how many.
func (s *Server) GCFiles(ctx context.Context, grace time.Duration) (int, error) {
	var refs map[string]bool
	err := s.st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		var err error
		refs, err = filestore.Referenced(ctx, snap, s.st.Schema())
		return err
	})
	if err != nil {
		return 0, err
	}
	n, err := s.files.GC(refs, grace)
	if n > 0 {
		s.log.Info("removed unreferenced files", "files", n)
	}
	return n, err
}

// expirePartials drops the attachment file uploads nodes left unfinished
// past Limits.PartialExpire, checking a tenth of that often, until ctx
// ends.
func (s *Server) expirePartials(ctx context.Context) error {
	every := s.cfg.Limits.PartialExpire / 10
	if every <= 0 {
		every = filestore.DefaultPartialExpire / 10
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
		if n, err := s.files.ExpirePartials(); err != nil {
			s.log.Error("expire unfinished file uploads", "err", err)
		} else if n > 0 {
			s.log.Info("dropped unfinished file uploads", "files", n)
		}
	}
}

// routedHere wakes the news requests of this process's Synchronization
// Manager when a router of this process saves new outbox files.
func (s *Server) routedHere() func(int, int64, map[string]int64) {
	m := s.Metrics()
	if !s.Runs(Sync) {
		return m.Routed
	}
	return func(partition int, position int64, outboxNext map[string]int64) {
		m.Routed(partition, position, outboxNext)
		s.syncManager().Routed(partition, position, outboxNext)
	}
}
