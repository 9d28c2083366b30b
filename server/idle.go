package server

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldsync/fieldsync"
)

// Idle reports whether the server has nothing left to do, as its database
// records it: nothing in the Transaction Log waits for the Transaction
// Processor, every router partition (Config.RouterPartitions) has routed
// the last sequence number, and no upload received waits for the
// Transaction Merger. It asks the database, so it sees the work of every
// process of an installation, whichever components this one runs. Changes
// and uploads still on their way to the server are not counted.
func (s *Server) Idle(ctx context.Context) (bool, error) {
	b, err := s.st.Backlog(ctx)
	if err != nil {
		return false, err
	}
	return b.Idle(s.cfg.RouterPartitions), nil
}

// IdlePoll is how often WaitIdle asks the database.
const IdlePoll = 5 * time.Millisecond

// WaitIdle waits until the server is Idle, or ctx ends: then it returns an
// error that says what was still to do. An embedding program or a test
// calls it to know that every change made so far has been merged and
// routed into the nodes' outboxes, and the outbox files nodes acknowledged
// removed.
func (s *Server) WaitIdle(ctx context.Context) error {
	var b fieldsync.Backlog
	for {
		var err error
		if b, err = s.st.Backlog(ctx); err != nil && ctx.Err() == nil {
			return err
		}
		if err == nil && b.Idle(s.cfg.RouterPartitions) {
			if s.Runs(Sync) {
				s.syncManager().WaitBackground() // ended sessions recorded, acknowledged outbox files removed
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not idle: log %+v, routers %v, uploads waiting %d: %w", b.Log, b.Routers, b.Uploads, ctx.Err())
		case <-time.After(IdlePoll):
		}
	}
}
