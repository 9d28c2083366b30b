// Package extract is the Database Extract: it gives a node a ready-to-open
// local database (a localdb file) holding exactly the rows visible to it as
// of a server sequence number, the starting point its outbox continues from.
//
// The extract is taken on a snapshot of the server database at the sequence
// number it records for the node (see fieldsync.Routing.StartExtract); the
// Transaction Router routes the node only later transactions, so extract
// plus outbox miss nothing and double nothing. A new extract supersedes the
// node's old one and the outbox files that led up to it.
//
// The rows are found by visibility.Walk, which reads only the rows the node
// sees, through the server database's indexes; the rows every node sees
// are read once for the extracts taken at one sequence number (shared.go).
package extract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
	"github.com/fieldsync/fieldsync/localdb"
	"github.com/fieldsync/fieldsync/visibility"
)

// Store is what the Database Extract needs of the server database.
type Store interface {
	fieldsync.Routing
	fieldsync.Nodes
	fieldsync.ExtractQueue
	Schema() *fieldsync.Schema
	// SchemaVersion is the version of the schema in force; SchemaAtSeq
	// the version in force for the log entry after seq.
	SchemaVersion() int64
	SchemaAtSeq(ctx context.Context, seq int64) (*fieldsync.Schema, int64, error)
}

// Result describes an extract.
type Result struct {
	Node string         `json:"node"`
	Seq  int64          `json:"seq"`
	Path string         `json:"path"`
	Rows map[string]int `json:"rows"` // rows per table
	Took time.Duration  `json:"took"`
}

// Extract takes a node's Database Extract into DOCKING/NODE/extract.db,
// replacing any earlier one, and removes the outbox files it supersedes.
// It holds a claim on the node's extract while it builds, renewed so that
// the claim of a process that dies runs out within seconds; the new
// extract becomes the node's only once its file is durable.
func Extract(ctx context.Context, st Store, dock docking.Folder, node string, logger *slog.Logger) (Result, error) {
	return take(ctx, st, dock, node, logger)
}

func take(ctx context.Context, st Store, dock docking.Folder, node string, logger *slog.Logger) (Result, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	n, _, err := st.Node(ctx, node)
	if err != nil {
		return Result{}, err
	}
	claim, ok, err := st.ClaimExtract(ctx, node)
	if err != nil {
		return Result{}, err
	} else if !ok {
		return Result{}, fieldsync.Errorf(fieldsync.ErrInUse, "the extract of node %q is being taken by another process; try again shortly", node)
	}
	lease := keepClaim(ctx, st, node, claim)
	res, err := buildInForce(lease.ctx, st, dock, n)
	claim, lost := lease.stop()
	if err == nil && lost != nil {
		err = lost
	}
	if err == nil {
		err = st.ExtractTaken(ctx, node, claim, res.Seq)
	}
	if err != nil {
		if rerr := st.ReleaseExtract(context.WithoutCancel(ctx), node, claim); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return Result{}, fmt.Errorf("extract %s: %w", node, err)
	}
	if err := removeSuperseded(dock, node, res.Seq); err != nil {
		return Result{}, fmt.Errorf("extract %s: %w", node, err)
	}
	res.Took = time.Since(start)
	logger.Info("database extract taken", "component", "Database Extract", "node", node, "seq", res.Seq, "took", res.Took)
	return res, nil
}

// errClaimLost: the claim on the extract ran out while it was built (the
// process stalled) and another process may be taking it.
var errClaimLost = errors.New("the claim on the extract was lost while it was taken")

// lease renews a claim on a node's extract while the extract is built;
// ctx ends when the claim is lost.
type lease struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	claim  int64
	lost   error
}

func keepClaim(ctx context.Context, st Store, node string, claim int64) *lease {
	l := &lease{claim: claim, done: make(chan struct{})}
	l.ctx, l.cancel = context.WithCancel(ctx)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(fieldsync.ExtractLease / 4)
		defer tick.Stop()
		for {
			select {
			case <-l.ctx.Done():
				return
			case <-tick.C:
			}
			renewed, ok, err := st.RenewExtract(l.ctx, node, l.claim)
			if err != nil && l.ctx.Err() != nil {
				return
			}
			if err != nil || !ok {
				l.lost = errors.Join(errClaimLost, err)
				l.cancel()
				return
			}
			l.claim = renewed
		}
	}()
	return l
}

// stop ends the renewals and returns the claim as last renewed, and why
// it was lost, if it was.
func (l *lease) stop() (int64, error) {
	l.cancel()
	<-l.done
	return l.claim, l.lost
}

// errSchemaMoved: a schema version was applied between the extract's
// start and its snapshot, and this process does not have it in force yet.
var errSchemaMoved = errors.New("the schema version changed while the extract began")

// buildInForce writes the node's extract file under the schema version in
// force at the extract's snapshot, so that the file holds what the
// snapshot holds and names its version (the node takes the versions after
// it from its outbox). When a version was applied just before the
// snapshot and this process has not put it in force yet (another process
// applied it), the extract waits for it and begins again.
func buildInForce(ctx context.Context, st Store, dock docking.Folder, n fieldsync.Node) (Result, error) {
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		res, err := build(ctx, st, dock, n)
		if !errors.Is(err, errSchemaMoved) || wait > 5*time.Second {
			return res, err
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// build writes the node's extract file.
func build(ctx context.Context, st Store, dock docking.Folder, n fieldsync.Node) (Result, error) {
	node := n.Name
	dir := dock.Node(node)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Result{}, err
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".extract-%d.tmp", time.Now().UnixNano()))
	defer os.Remove(tmp)
	res := Result{Node: node, Path: dock.Extract(node), Rows: map[string]int{}}
	seq, err := st.StartExtract(ctx, node, func(snap fieldsync.Snapshot) error {
		s, v, err := st.SchemaAtSeq(ctx, snap.LastSeq())
		if err != nil {
			return err
		}
		if v != st.SchemaVersion() {
			return fmt.Errorf("%w (version %d at transaction %d, %d in force)", errSchemaMoved, v, snap.LastSeq(), st.SchemaVersion())
		}
		h := localdb.Header{Node: node, EmployeeID: n.EmployeeID, ExtractSeq: snap.LastSeq(), SchemaVersion: v, ExtractedAt: time.Now()}
		rows, stop := walk(ctx, st, snap, s, n.EmployeeID)
		defer stop()
		return localdb.Build(ctx, tmp, s, h, func(insert func(string, fieldsync.Row) error) error {
			for batch := range rows {
				for _, tr := range batch.rows {
					res.Rows[tr.table]++
					if err := insert(tr.table, tr.row); err != nil {
						return err
					}
				}
				if batch.err != nil {
					return batch.err
				}
			}
			return ctx.Err() // a walk cut short sends no error of its own
		})
	})
	if err != nil {
		return Result{}, err
	}
	if err := os.Rename(tmp, res.Path); err != nil {
		return Result{}, err
	}
	if err := durable.SyncDir(dir); err != nil {
		return Result{}, err
	}
	res.Seq = seq
	return res, nil
}

// walkBatch is a batch of the rows a walk found, or (last) why it
// stopped.
type walkBatch struct {
	rows []tableRow
	err  error
}

// walkBatchRows is how many rows a walk hands on at a time.
const walkBatchRows = 256

// walk finds the rows the employee's node sees in snap (the rows every
// node sees first) on a goroutine of its own, so that reading them from
// the server database and writing them to the extract file run side by
// side, and hands them on in batches; the channel closes after the last
// (whose err says why the walk stopped, if it failed). stop ends the walk
// and waits for it: the snapshot must not be read after fn returns.
func walk(ctx context.Context, st Store, snap fieldsync.Snapshot, s *fieldsync.Schema, employee string) (<-chan walkBatch, func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan walkBatch, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		batch := make([]tableRow, 0, walkBatchRows)
		send := func(b walkBatch) error {
			select {
			case out <- b:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		emit := func(table string, r fieldsync.Row) error {
			batch = append(batch, tableRow{table, r})
			if len(batch) < walkBatchRows {
				return nil
			}
			err := send(walkBatch{rows: batch})
			batch = make([]tableRow, 0, walkBatchRows)
			return err
		}
		sh, err := walkShared(ctx, st, snap, s, emit)
		if err == nil {
			err = visibility.WalkOwn(ctx, snap, s, employee, sh, emit)
		}
		if err == nil || ctx.Err() == nil {
			send(walkBatch{rows: batch, err: err})
		}
	}()
	return out, func() {
		cancel()
		<-done
	}
}

// removeSuperseded deletes the outbox files whose every transaction the
// new extract already holds. (A file the router writes for those
// transactions after this ran is skipped by the node when it applies, as
// every transaction at or below its extract's sequence number is.)
func removeSuperseded(dock docking.Folder, node string, seq int64) error {
	files, err := docking.List(dock.Outbox(node))
	if err != nil {
		return err
	}
	for _, f := range files {
		path := dock.OutboxFile(node, f.Number)
		_, txns, err := dx.ReadFile(path, dx.Limits{})
		if err != nil {
			continue // a damaged file is left for inspection
		}
		superseded := true
		for _, t := range txns {
			if t.Seq > seq {
				superseded = false
				break
			}
		}
		if superseded {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// RetryMax is the longest pause before a failed extract is tried again.
const RetryMax = 5 * time.Minute

// Run takes the extracts asked for (by administrators, or at node
// registration in a process that does not run the Database Extract) until
// ctx ends. wake signals a new request in this process.
func Run(ctx context.Context, st Store, dock docking.Folder, logger *slog.Logger, wake <-chan struct{}) error {
	return Extractor{Store: st, Docking: dock, Logger: logger}.Run(ctx, wake)
}

// Run takes the extracts asked for until ctx ends, as the package's Run
// does.
func (e Extractor) Run(ctx context.Context, wake <-chan struct{}) error {
	st, logger := e.Store, e.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A failed extract is tried again after a pause that doubles, from a
	// second up to RetryMax.
	type failure struct {
		pause time.Duration
		next  time.Time
	}
	failed := map[string]failure{}
	for {
		nodes, err := st.WantedExtracts(ctx)
		if err != nil && ctx.Err() == nil {
			logger.Error("list wanted extracts", "component", "Database Extract", "err", err)
		}
		for _, n := range nodes {
			f, ok := failed[n]
			if ok && time.Now().Before(f.next) {
				continue
			}
			_, err := e.Extract(ctx, n)
			switch {
			case err == nil:
				delete(failed, n)
			case errors.Is(err, fieldsync.ErrInUse) || ctx.Err() != nil:
				// another process is taking it, or we are stopping
			default:
				f.pause = min(max(2*f.pause, time.Second), RetryMax)
				f.next = time.Now().Add(f.pause)
				failed[n] = f
				logger.Error("extract failed", "component", "Database Extract", "node", n, "err", err, "retry_in", f.pause)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(time.Second):
		}
	}
}
