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
// txnproc file), and .dx encoding is deterministic, so a router that
// restarts after a crash rewrites exactly the same files under the same
// names: nothing lost, nothing doubled.
package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
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
	Schema() *fieldsync.Schema
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
	Fault  func(step string) error
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

	g   *visibility.Graph
	pos int64

	version int64
	nodes   map[string]*node   // this partition's nodes, active or not
	byEmp   map[string][]*node // active nodes by employee
	active  []*node            // active nodes, by name

	w dx.Writer // reused for every outbox file: keeps its compressor

	// per txnproc file
	pending int              // deliveries held
	touched map[string]int64 // next outbox numbers of the nodes written to
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
	var g *visibility.Graph
	err = r.st.Snapshot(ctx, func(snap fieldsync.Snapshot) error {
		var err error
		if g, err = visibility.Load(ctx, snap, r.st.Schema()); err != nil {
			return err
		}
		if snap.LastSeq() <= r.pos {
			return nil
		}
		// Transactions after the position: in txnproc files up to the
		// snapshot's trimmed mark, in the log after it.
		var later []fieldsync.Txn
		if r.pos < snap.Trimmed() {
			txns, err := r.readFiles(r.pos, snap.Trimmed())
			if err != nil {
				return err
			}
			later = append(later, txns...)
		}
		from := max(r.pos, snap.Trimmed())
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
		if n := len(later); n > 0 && (later[0].Seq != r.pos+1 || later[n-1].Seq != snap.LastSeq() || int64(n) != snap.LastSeq()-r.pos) {
			return fmt.Errorf("transaction router: cannot rebuild state at %d: have transactions %d..%d of %d..%d",
				r.pos, later[0].Seq, later[n-1].Seq, r.pos+1, snap.LastSeq())
		}
		for i := len(later) - 1; i >= 0; i-- {
			if err := g.Undo(later[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("transaction router: recover: %w", err)
	}
	r.g = g
	r.version = -1
	r.log.Info("recovered", "position", r.pos, "rows", g.Len())
	return nil
}

// readFiles returns the transactions with after < Seq <= upTo from the
// txnproc files.
func (r *Router) readFiles(after, upTo int64) ([]fieldsync.Txn, error) {
	dir := r.cfg.Docking.Txnproc()
	names, err := r.cfg.Docking.TxnprocFiles()
	if err != nil {
		return nil, err
	}
	var out []fieldsync.Txn
	for _, name := range names {
		first, last, _ := docking.ParseTxnprocName(name)
		if last <= after || first > upTo {
			continue
		}
		_, txns, err := dx.ReadFile(filepath.Join(dir, name), dx.Limits{})
		if err != nil {
			return nil, err
		}
		for _, t := range txns {
			if t.Seq > after && t.Seq <= upTo {
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// Run routes files as they come until ctx ends or a step fails. wake, when
// not nil, signals that a new txnproc file may be there.
func (r *Router) Run(ctx context.Context, wake <-chan struct{}) error {
	if err := r.Recover(ctx); err != nil {
		return err
	}
	for {
		routed, err := r.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if routed {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(r.cfg.Poll):
		}
	}
}

// Step routes the next txnproc file, if there is one, and reports whether
// it did.
func (r *Router) Step(ctx context.Context) (bool, error) {
	dir := r.cfg.Docking.Txnproc()
	names, err := r.cfg.Docking.TxnprocFiles()
	if err != nil {
		return false, fmt.Errorf("transaction router: %w", err)
	}
	var next string
	for _, name := range names {
		first, last, _ := docking.ParseTxnprocName(name)
		if last <= r.pos {
			continue
		}
		if first != r.pos+1 {
			return false, fmt.Errorf("transaction router: next file %s does not follow position %d", name, r.pos)
		}
		next = name
		break
	}
	if next == "" {
		return false, nil
	}
	_, txns, err := dx.ReadFile(filepath.Join(dir, next), dx.Limits{})
	if err != nil {
		return false, fmt.Errorf("transaction router: %w", err)
	}
	// The nodes are read after the file: every node change committed
	// before the file's transactions is visible now.
	if err := r.loadNodes(ctx); err != nil {
		return false, err
	}
	_, last, _ := docking.ParseTxnprocName(next)
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
	r.log.Debug("routed", "file", next, "txns", len(txns), "nodes", len(outboxNext))
	return true, r.removeRouted(ctx, names)
}

// removeRouted deletes txnproc files every partition has routed.
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

// loadNodes rereads this partition's nodes when they changed.
func (r *Router) loadNodes(ctx context.Context) error {
	v, err := r.st.NodesVersion(ctx)
	if err != nil {
		return err
	}
	if v == r.version && r.nodes != nil {
		return nil
	}
	v, all, err := r.st.RoutingNodes(ctx)
	if err != nil {
		return err
	}
	r.version = v
	r.nodes = map[string]*node{}
	r.byEmp = map[string][]*node{}
	r.active = r.active[:0]
	for _, nr := range all {
		if PartitionOf(nr.Name, r.cfg.Partitions) != r.cfg.Partition {
			continue
		}
		n := &node{NodeRouting: nr}
		r.nodes[n.Name] = n
		if n.Active {
			r.byEmp[n.EmployeeID] = append(r.byEmp[n.EmployeeID], n)
			r.active = append(r.active, n)
		}
	}
	return nil
}

// route computes the deliveries of a file's transactions.
func (r *Router) route(ctx context.Context, txns []fieldsync.Txn) error {
	for i := range txns {
		t := &txns[i]
		changes, err := r.g.Apply(*t)
		if err != nil {
			return fmt.Errorf("transaction router: %w", err)
		}
		for _, ch := range changes {
			if err := r.deliver(ctx, t, ch); err != nil {
				return err
			}
		}
		if r.pending >= r.cfg.MaxPending {
			// Flushing mid-file depends only on the file's content, so a
			// rerun after a crash cuts the same outbox files.
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// deliver adds one visibility change's deliveries.
func (r *Router) deliver(ctx context.Context, t *fieldsync.Txn, ch visibility.Change) error {
	before, after := ch.Before, ch.After
	var whole *fieldsync.Txn // the row sent whole to nodes that gain it
	gain := func() (*fieldsync.Txn, error) {
		if whole != nil {
			return whole, nil
		}
		if ch.Subject && t.Op == fieldsync.OpInsert {
			whole = t
			return whole, nil
		}
		row, err := r.st.Get(ctx, ch.Table, ch.ID)
		if errors.Is(err, fieldsync.ErrNotFound) {
			return nil, nil // deleted since: its delete reaches those who see it
		}
		if err != nil {
			return nil, err
		}
		whole = &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpInsert, Table: ch.Table, RowID: ch.ID, Values: row, Time: t.Time}
		return whole, nil
	}
	purge := &fieldsync.Txn{Seq: t.Seq, Op: fieldsync.OpPurge, Table: ch.Table, RowID: ch.ID, Time: t.Time}

	// Fast path: the same audience before and after (the common update
	// that changes no column visibility reads).
	if before.Equal(after) {
		if !ch.Subject {
			return nil
		}
		r.each(after, func(n *node) {
			if n.Name != t.Origin {
				r.add(n, t)
			}
		})
		return nil
	}
	var err error
	r.each(after, func(n *node) {
		if err != nil || !r.ready(n, t.Seq) {
			return
		}
		if before.Sees(n.EmployeeID) {
			if ch.Subject && n.Name != t.Origin {
				r.add(n, t) // still sees it: the change itself
			}
			return
		}
		if ch.Subject && t.Op == fieldsync.OpInsert && n.Name == t.Origin {
			return // its own insert
		}
		var w *fieldsync.Txn
		if w, err = gain(); w != nil {
			r.add(n, w)
		}
	})
	if err != nil {
		return err
	}
	r.each(before, func(n *node) {
		if after.Sees(n.EmployeeID) || !r.ready(n, t.Seq) {
			return
		}
		if ch.Subject && t.Op == fieldsync.OpDelete {
			if n.Name != t.Origin {
				r.add(n, t)
			}
			return
		}
		r.add(n, purge)
	})
	return nil
}

// ready reports whether a node takes transaction seq: it has an extract,
// and the extract does not already hold the transaction.
func (r *Router) ready(n *node, seq int64) bool {
	return n.ExtractSeq != fieldsync.NoExtract && seq > n.ExtractSeq
}

// each calls fn for every active node of the partition in the audience.
func (r *Router) each(a visibility.Audience, fn func(*node)) {
	if a.All {
		for _, n := range r.active {
			fn(n)
		}
		return
	}
	for _, e := range a.Employees {
		for _, n := range r.byEmp[e] {
			fn(n)
		}
	}
}

func (r *Router) add(n *node, t *fieldsync.Txn) {
	if !r.ready(n, t.Seq) {
		return
	}
	n.out = append(n.out, t)
	r.pending++
}

// flush writes every held delivery to its node's outbox, one new numbered
// file per node, and notes the nodes' next numbers in touched.
func (r *Router) flush() error {
	var names []string
	for name, n := range r.nodes {
		if len(n.out) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		n := r.nodes[name]
		num := n.OutboxNext
		dir := r.cfg.Docking.Outbox(name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("transaction router: outbox of %s: %w", name, err)
		}
		txns := make([]fieldsync.Txn, len(n.out))
		for i, t := range n.out {
			txns[i] = *t
		}
		hdr := dx.Header{Kind: dx.KindOutbox, Node: name, Number: uint64(num)}
		if err := r.w.WriteFile(dir, docking.FileName(num), hdr, txns, nil); err != nil {
			return fmt.Errorf("transaction router: outbox of %s: %w", name, err)
		}
		n.OutboxNext = num + 1
		r.touched[name] = num + 1
		n.out = n.out[:0]
	}
	r.pending = 0
	return nil
}
