package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/fieldsync/fieldsync"
)

// Writes made at the same time share a commit (group commit). Every write
// of the Transaction Log holds its counter's lock until it commits, so
// concurrent writers would each wait for the commit's flush to disk in
// turn. Instead, the writes that arrive while a transaction is committing
// queue up, and the next transaction takes them all (up to maxGroup), and
// one flush commits them. A refused write is answered its error and
// applies nothing: the first undoes the group's transaction, and the
// others run again, each in a savepoint of its own, undone alone. A
// lone writer waits for nobody: its write is a transaction of its own, as
// before. The log stays gap-free and in commit order (one transaction holds
// the counter at a time), and each write is applied whole or not at all:
// if the commit fails, every write of the group is answered its error.

// maxGroup bounds the writes of one group transaction (and so how long it
// holds the log's counter).
const maxGroup = 64

// applyReq is one Apply waiting for its group.
type applyReq struct {
	ctx     context.Context
	origin  string
	changes []fieldsync.Change
	txns    []fieldsync.Txn
	err     error
	// wake is closed when the write is done, or when it is to lead the
	// next group (lead).
	wake chan struct{}
	lead bool
	done bool
}

// writeGroup is the queue of writes waiting for a group transaction.
type writeGroup struct {
	mu      sync.Mutex
	queue   []*applyReq
	leading bool // a writer is running group transactions
}

// applyGrouped runs one Apply in a group transaction, leading it or
// waiting for the writer that leads.
func (st *Store) applyGrouped(ctx context.Context, origin string, changes []fieldsync.Change) ([]fieldsync.Txn, error) {
	req := &applyReq{ctx: ctx, origin: origin, changes: changes, wake: make(chan struct{})}
	g := &st.group
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.leading {
		g.mu.Unlock()
		<-req.wake // done, or made the leader
	} else {
		g.leading = true
		req.lead = true
		g.mu.Unlock()
	}
	if req.lead {
		st.leadGroups(req)
	}
	return req.txns, req.err
}

// leadGroups runs group transactions until the leader's own write is
// done, then hands the lead to the oldest waiting write, if any.
func (st *Store) leadGroups(self *applyReq) {
	g := &st.group
	for {
		g.mu.Lock()
		if self.done {
			if len(g.queue) == 0 {
				g.leading = false
			} else {
				next := g.queue[0]
				next.lead = true
				close(next.wake)
			}
			g.mu.Unlock()
			return
		}
		batch := g.queue[:min(len(g.queue), maxGroup)]
		g.queue = append([]*applyReq(nil), g.queue[len(batch):]...)
		g.mu.Unlock()
		st.runGroupSafe(batch)
		g.mu.Lock()
		for _, r := range batch {
			r.done = true
			if r != self {
				close(r.wake)
			}
		}
		g.mu.Unlock()
	}
}

// runGroupSafe is runGroup, with a panic answered to each of the group's
// writes as their error instead of leaving the queue with no leader.
func (st *Store) runGroupSafe(batch []*applyReq) {
	defer func() {
		if p := recover(); p != nil {
			for _, r := range batch {
				r.txns, r.err = nil, fmt.Errorf("write path: internal error: %v", p)
			}
		}
	}()
	st.runGroup(batch)
}

// runGroup applies a group's writes in one transaction and sets each
// one's result.
func (st *Store) runGroup(batch []*applyReq) {
	if len(batch) == 1 { // alone: its own transaction, no savepoint
		r := batch[0]
		r.err = st.inTx(r.ctx, func(tx *sql.Tx) error {
			var err error
			r.txns, err = st.ApplyTx(r.ctx, tx, r.origin, r.changes...)
			return err
		})
		if r.err != nil {
			r.txns = nil
		} else if len(r.txns) > 0 {
			st.NotifyChanged()
		}
		return
	}
	// First without savepoints: most writes are accepted. The first refused
	// one undoes the transaction; it is answered its error, and the rest run
	// again, each in a savepoint.
	refused, err := st.groupTx(batch, false)
	if refused >= 0 {
		rest := append(append([]*applyReq(nil), batch[:refused]...), batch[refused+1:]...)
		_, err = st.groupTx(rest, true)
		batch = rest
	}
	if err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.err, r.txns = err, nil
			}
		}
		return
	}
	for _, r := range batch {
		if len(r.txns) > 0 {
			st.NotifyChanged()
			return
		}
	}
}

// groupTx applies writes in one transaction, each in a savepoint when
// saved. Unsaved, it stops at the first refused write, whose error it
// keeps, rolls back and returns its index (else -1). The log's counter is
// locked and read once for the group, advanced by each write applied, and
// recorded once.
func (st *Store) groupTx(batch []*applyReq, saved bool) (int, error) {
	refused := -1
	err := st.inTx(context.Background(), func(tx *sql.Tx) error {
		m := &mergeTx{}
		var err error
		if m.seq, err = st.lockLogSeq(context.Background(), tx); err != nil {
			return err
		}
		first := m.seq
		for i, r := range batch {
			if r.err = r.ctx.Err(); r.err != nil {
				continue
			}
			if saved {
				r.txns, r.err = st.applySaved(r.ctx, tx, m, i, r)
				continue
			}
			if r.txns, r.err = st.applyTx(r.ctx, tx, m, r.origin, r.changes...); r.err != nil {
				refused = i
				return errRefusedInGroup
			}
		}
		if m.seq == first {
			return nil
		}
		return st.setLogSeq(context.Background(), tx, m.seq)
	})
	if errors.Is(err, errRefusedInGroup) {
		return refused, nil
	}
	return refused, err
}

// errRefusedInGroup rolls back a group transaction without savepoints at
// its first refused write.
var errRefusedInGroup = errors.New("a write of the group was refused")

// applySaved applies one write of a group inside savepoint i, undone if
// the write is refused (the counter m holds advances only when it is not).
func (st *Store) applySaved(ctx context.Context, tx *sql.Tx, m *mergeTx, i int, r *applyReq) ([]fieldsync.Txn, error) {
	sp := fmt.Sprintf("fs_w%d", i)
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	txns, err := st.applyTx(ctx, tx, m, r.origin, r.changes...)
	if err != nil {
		if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			return nil, fmt.Errorf("%w (and undoing it: %v)", err, rerr)
		}
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	return txns, nil
}
