// Package router is the Transaction Router: it reads the Transaction
// Processor's files in sequence order and writes each transaction into the
// outbox of every active node that may see the changed row, as numbered .dx
// files in docking/NODE/outbox. A row that becomes visible to a node is sent
// whole (an insert); a row that stops being visible is sent as a purge; a
// transaction is not sent back to the node it came from.
//
// Which nodes see a row comes from the visibility engine, which answers in
// time proportional to the rows a change can reach; nodes are found from
// employees through an index, so routing costs grow with deliveries, not
// with transactions times registered nodes.
//
// Crash safety: outbox file numbers are a function of the router's durable
// state (its position and each node's next number, saved together after each
// step), and the server serves a node only the files numbered below its saved
// next number. A router that restarts after a crash routes again from its
// position and writes the files after it anew under the same numbers,
// replacing any it wrote but had not saved (a step may then take more
// txnproc files than the one that crashed did): nothing lost, nothing
// doubled.
package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/visibility"
)

// Store is what the router needs of the server database.
type Store interface {
	fieldsync.Reader
	fieldsync.Routing
	// ReadLog and TrimLog: the log keeps every entry until each partition
	// routed it (see fieldsync.Log).
	ReadLog(ctx context.Context, after int64, limit int) ([]fieldsync.Txn, error)
	TrimLog(ctx context.Context, upTo int64) error
	Schema() *fieldsync.Schema
	// SchemaAt returns a schema version; SchemaAtSeq the version in force
	// after a log position (see fieldsync.SchemaTable).
	SchemaAt(ctx context.Context, version int64) (*fieldsync.Schema, error)
	SchemaAtSeq(ctx context.Context, seq int64) (*fieldsync.Schema, int64, error)
	fieldsync.Recoveries
}

// Config tunes a router. Zero values take the defaults.
type Config struct {
	// Docking is the docking folder (DATA/docking).
	Docking docking.Folder
	// Partition and Partitions split the nodes between routers: this router
	// serves the nodes whose name hashes to Partition modulo Partitions.
	Partition, Partitions int
	// Poll is how often the txnproc folder is checked when nothing signals
	// a new file (default 200 ms).
	Poll time.Duration
	// MaxPending flushes outbox files once this many deliveries are held in
	// memory for one txnproc file (default 1,000,000), so a broadcast to
	// many nodes does not hold everything at once.
	MaxPending int
	// Fault, when set, is called between steps ("outbox-written",
	// "saved"); an error stops the router there, as a crash would. For tests.
	Fault func(step string) error
	// Routed, when set, is called after the router saved its position and
	// the outbox files of a txnproc file, with the new outbox numbering of
	// the nodes it wrote to (the in-process Synchronization Manager tells
	// their news requests at once).
	Routed func(partition int, position int64, outboxNext map[string]int64)
	// RoutedTxns, when set, is called beside Routed with how many
	// transactions the txnproc file held (the process's metrics).
	RoutedTxns func(partition, txns int)
	// Recent, when set, gives the transactions of txnproc files the
	// processor of the same process wrote last (txnproc.Recent): they are
	// taken from there instead of read from the file. They are shared
	// with the other partitions and never changed.
	Recent interface {
		Txns(name string) ([]fieldsync.Txn, bool)
	}
	Logger *slog.Logger
}

// PartitionOf returns the router partition serving a node.
func PartitionOf(node string, partitions int) int {
	if partitions <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(node))
	return int(h.Sum32() % uint32(partitions))
}

// Router is one Transaction Router partition.
type Router struct {
	st  Store
	cfg Config
	log *slog.Logger

	g      *visibility.Graph
	schema *fieldsync.Schema // the version in force at pos, g's
	pos    int64

	version int64
	nodes   map[string]*node   // this partition's nodes, active or not
	byEmp   map[string][]*node // active nodes by employee
	active  []*node            // active nodes, by name

	w dx.Writer // reused for every outbox file: keeps its compressor

	// per txnproc file
	pending int              // deliveries held
	touched map[string]int64 // next outbox numbers of the nodes written to

	rebuilt int // txnproc files written again from the log
}

// node is a node as the router routes it.
type node struct {
	fieldsync.NodeRouting
	out []*fieldsync.Txn // deliveries held for the current file
}

// New returns a router; Run (or Recover then Step) drives it.
func New(st Store, cfg Config) *Router {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 1_000_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("component", "Transaction Router", "partition", cfg.Partition)
	return &Router{st: st, cfg: cfg, log: log}
}

// Position returns the last sequence number routed.
func (r *Router) Position() int64 { return r.pos }

// Recover rebuilds the router's state at its durable position: the
// visibility graph is loaded from a snapshot of the database and the
// transactions after the position are undone on it, newest first.
func (r *Router) Recover(ctx context.Context) error {
	positions, err := r.st.RouterPositions(ctx)
	if err != nil {
		return err
	}
	r.pos = positions[r.cfg.Partition]
	sch, _, err := r.st.SchemaAtSeq(ctx, r.pos)
	if err != nil {
		return fmt.Errorf("transaction router: recover: %w", err)
	}
	g, err := r.graphAt(ctx, r.pos, sch)
	if err != nil {
		return fmt.Errorf("transaction router: recover: %w", err)
	}
	r.g, r.schema = g, sch
	r.version = -1
	r.log.Info("recovered", "position", r.pos, "rows", g.Len())
	return nil
}

// graphAt returns the visibility graph of schema sch at log position pos:
// loaded from a snapshot of the database, with the transactions after pos
// undone on it, newest first.
func (r *Router) graphAt(ctx context.Context, pos int64, sch *fieldsync.Schema) (*visibility.Graph, error) {
	var g *visibility.Graph
	err := r.st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		var err error
		if g, err = visibility.Load(ctx, versionScan{snap, sch}, sch); err != nil {
			return err
		}
		if snap.LastSeq() <= pos {
			return nil
		}
		// Transactions after the position: in txnproc files up to the
		// snapshot's trimmed mark, in the log after it.
		var later []fieldsync.Txn
		if pos < snap.Trimmed() {
			txns, err := r.readFiles(pos, snap.Trimmed())
			if err != nil {
				return err
			}
			later = append(later, txns...)
		}
		from := max(pos, snap.Trimmed())
		for {
			txns, err := snap.ReadLog(ctx, from, 10_000)
			if err != nil {
				return err
			}
			if len(txns) == 0 {
				break
			}
			later = append(later, txns...)
			from = txns[len(txns)-1].Seq
		}
		if n := len(later); n > 0 && (later[0].Seq != pos+1 || later[n-1].Seq != snap.LastSeq() || int64(n) != snap.LastSeq()-pos) {
			return fmt.Errorf("cannot rebuild state at %d: have transactions %d..%d of %d..%d",
				pos, later[0].Seq, later[n-1].Seq, pos+1, snap.LastSeq())
		}
		for i := len(later) - 1; i >= 0; i-- {
			// Markers, and changes to tables of later versions, are
			// not the graph's.
			if sch.Table(later[i].Table) == nil {
				continue
			}
			if err := g.Undo(later[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return g, err
}

// versionScan reads a snapshot's tables as schema version sch declares
// them, which may be earlier than the version in force: a table or column
// a later version dropped is still in the database.
type versionScan struct {
	snap fieldsync.Snapshot
	sch  *fieldsync.Schema
}

func (v versionScan) Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error {
	t, err := v.sch.LookupTable(table)
	if err != nil {
		return err
	}
	return v.snap.ScanAs(ctx, t, fn)
}

// Retry pauses of Run after a failed step: doubling from RetryMin up to
// RetryMax.
const (
	RetryMin = 100 * time.Millisecond
	RetryMax = 30 * time.Second
)

// Run routes files as they come until ctx ends. wake, when not nil,
// signals that a new txnproc file may be there. A step that fails (the
// disk or the database failing for a while, the process out of file
// descriptors) is logged and tried again after a pause (RetryMin doubling
// up to RetryMax) from the router's durable state, so that the router
// never stops the server; only the end of ctx ends Run.
func (r *Router) Run(ctx context.Context, wake <-chan struct{}) error {
	var pause time.Duration
	ready := false
	for {
		routed, err := r.try(ctx, &ready)
		woken := wake
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ready = false
			pause = min(max(2*pause, RetryMin), RetryMax)
			r.log.Error("routing failed, trying again", "err", err, "retry_in", pause)
			woken = nil // the pause is taken whole
		} else {
			pause = 0
		}
		if routed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-woken:
		case <-time.After(max(pause, r.cfg.Poll)):
		}
	}
}

// try routes the next file, after rebuilding the router's state when it
// is not ready (at the start, after a failure).
func (r *Router) try(ctx context.Context, ready *bool) (bool, error) {
	if !*ready {
		if err := r.Recover(ctx); err != nil {
			return false, err
		}
		*ready = true
	}
	return r.Step(ctx)
}

// Step routes the next txnproc file, if there is one, with those right
// after it (following), and reports whether it did.
func (r *Router) Step(ctx context.Context) (bool, error) {
	names, err := r.cfg.Docking.TxnprocFiles()
	if err != nil {
		return false, fmt.Errorf("transaction router: %w", err)
	}
	next, last, txns, err := r.next(ctx, names)
	if err != nil || next == "" {
		return false, err
	}
	if !slices.Contains(names, next) {
		names = append(names, next) // written again from the log: removed with the others
	}
	last, txns = r.following(names, last, txns)
	// The nodes are read after the file: every node change committed
	// before the file's transactions is visible now.
	if err := r.loadNodes(ctx); err != nil {
		return false, err
	}
	r.touched = map[string]int64{}
	if err := r.route(ctx, txns); err != nil {
		return false, err
	}
	if err := r.flush(); err != nil {
		return false, err
	}
	outboxNext := r.touched
	if err := r.fault("outbox-written"); err != nil {
		return false, err
	}
	if err := r.st.SaveRouting(ctx, r.cfg.Partition, last, outboxNext); err != nil {
		return false, err
	}
	r.pos = last
	if err := r.fault("saved"); err != nil {
		return false, err
	}
	if r.cfg.Routed != nil {
		r.cfg.Routed(r.cfg.Partition, last, outboxNext)
	}
	if r.cfg.RoutedTxns != nil {
		r.cfg.RoutedTxns(r.cfg.Partition, len(txns))
	}
	r.log.Debug("routed", "file", next, "txns", len(txns), "nodes", len(outboxNext))
	return true, r.removeRouted(ctx, names)
}

// next reads the txnproc file after the router's position ("" when there
// is none yet). A file found damaged, or missing before the next one, is
// written again from the Transaction Log, which keeps its entries until
// every partition routed them.
func (r *Router) next(ctx context.Context, names []string) (string, int64, []fieldsync.Txn, error) {
	for _, name := range names {
		first, last, _ := docking.ParseTxnprocName(name)
		if last <= r.pos {
			continue
		}
		if first != r.pos+1 {
			if first <= r.pos {
				return "", 0, nil, fmt.Errorf("transaction router: next file %s does not follow position %d", name, r.pos)
			}
			last, problem := first-1, "missing"
			txns, err := r.rebuild(ctx, docking.TxnprocName(r.pos+1, last), last, problem)
			return docking.TxnprocName(r.pos+1, last), last, txns, err
		}
		txns, err := r.readTxnproc(name)
		if err != nil {
			r.log.Error("txnproc file damaged", "file", name, "err", err)
			txns, err = r.rebuild(ctx, name, last, "damaged")
		}
		return name, last, txns, err
	}
	return "", 0, nil, nil
}

// maxStepTxns bounds how many transactions one step routes.
const maxStepTxns = 10_000

// following adds to a step the txnproc files that come right after last,
// while they read whole and the step holds fewer than maxStepTxns
// transactions: a router that fell behind catches up in few steps, each
// writing one outbox file a node (the files a node downloads coalesce
// under load), while under light load every step still routes the one
// file there is, at once. A file that is missing or damaged is left to
// the next step, which writes it again from the log.
func (r *Router) following(names []string, last int64, txns []fieldsync.Txn) (int64, []fieldsync.Txn) {
	for _, name := range names {
		if len(txns) >= maxStepTxns {
			break
		}
		first, l, _ := docking.ParseTxnprocName(name)
		if l <= last {
			continue
		}
		if first != last+1 || l-first+1 > int64(maxStepTxns-len(txns)) {
			break
		}
		more, err := r.readTxnproc(name)
		if err != nil {
			break
		}
		txns, last = append(txns, more...), l
	}
	return last, txns
}

// rebuild writes the txnproc file holding the router's position+1 to last
// again, from the Transaction Log, durably, so every partition reads it.
func (r *Router) rebuild(ctx context.Context, name string, last int64, problem string) ([]fieldsync.Txn, error) {
	txns, err := r.st.ReadLog(ctx, r.pos, int(last-r.pos))
	if err != nil {
		return nil, err
	}
	if n := len(txns); n == 0 || txns[0].Seq != r.pos+1 || txns[n-1].Seq != last || int64(n) != last-r.pos {
		return nil, fmt.Errorf("transaction router: txnproc file %s is %s and the Transaction Log no longer holds transactions %d..%d: they cannot be routed",
			name, problem, r.pos+1, last)
	}
	if err := r.w.WriteFile(r.cfg.Docking.Txnproc(), name, dx.Header{Kind: dx.KindTxnproc}, txns, nil); err != nil {
		return nil, fmt.Errorf("transaction router: rewrite %s: %w", name, err)
	}
	r.rebuilt++
	r.log.Warn("rebuilt a txnproc file from the Transaction Log", "file", name, "problem", problem, "txns", len(txns), "rebuilt", r.rebuilt)
	return txns, r.st.RecordRecovery(ctx, fieldsync.Recovery{Component: "Transaction Router",
		What: fmt.Sprintf("txnproc file %s was %s: rebuilt from the Transaction Log (%d transactions)", name, problem, len(txns))})
}

// Rebuilt returns how many txnproc files this router wrote again from the
// log, found damaged or missing.
func (r *Router) Rebuilt() int { return r.rebuilt }

// removeRouted trims from the log the transactions every partition has
// routed, and deletes their txnproc files.
func (r *Router) removeRouted(ctx context.Context, names []string) error {
	positions, err := r.st.RouterPositions(ctx)
	if err != nil {
		return err
	}
	low := r.pos
	for p := 0; p < r.cfg.Partitions; p++ {
		pos, ok := positions[p]
		if !ok {
			return nil // a partition that never ran still needs every file
		}
		low = min(low, pos)
	}
	if err := r.st.TrimLog(ctx, low); err != nil {
		return err
	}
	dir := r.cfg.Docking.Txnproc()
	for _, name := range names {
		if _, last, _ := docking.ParseTxnprocName(name); last <= low {
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("transaction router: %w", err)
			}
		}
	}
	return nil
}

func (r *Router) fault(step string) error {
	if r.cfg.Fault == nil {
		return nil
	}
	return r.cfg.Fault(step)
}
