// Package txnproc is the Transaction Processor: it moves committed entries
// of the Transaction Log, in sequence order, into .dx files in
// docking/txnproc. The Transaction Router reads those files next, and once
// every router partition has routed a file it trims its entries from the
// log and removes the file: until then the log keeps them, so a txnproc
// file found damaged or missing is written again from the log.
//
// Crash safety: a file is written to a temporary name and renamed, so it
// appears whole or not at all to a process that starts after a crash. It
// is not fsynced: the log keeps its entries until every partition routed
// it, so a file a power loss took away or damaged is written again from
// the log by the router that finds it so (this saves two fsyncs on the
// way of every change to the nodes). A file's name says which sequence
// numbers it holds, so after a crash at any point the processor finds what
// it already wrote (the last file, or the log's trimmed mark when every
// file was routed) and goes on with no gap and no duplicate.
package txnproc

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
	"github.com/fieldsync/fieldsync/dx"
	"github.com/fieldsync/fieldsync/internal/durable"
)

// Config tunes the processor. Zero values take the defaults.
type Config struct {
	// Docking is the docking folder: files go to its txnproc folder.
	Docking docking.Folder
	// MaxTxns cuts a file at this many transactions (default 10,000).
	MaxTxns int
	// MaxBytes cuts a file once its transactions' values reach about this
	// many bytes (default 8 MiB).
	MaxBytes int
	// Poll is how often the log is checked when nothing signals a commit
	// (other processes writing the same database). Default 200 ms.
	Poll time.Duration
	// Fault, when set, is called between the steps of writing a file
	// ("written", "renamed"); an error stops the processor there,
	// as a crash would. For tests.
	Fault func(step string) error
	// Written, when set, is called with each file's name once it is durable
	// (the in-process router waits on it).
	Written func(name string)
	// Recent, when set, keeps the transactions of the files written last,
	// for a router of the same process (router.Config.Recent).
	Recent *Recent
	Logger *slog.Logger
}

// Processor is the Transaction Processor.
type Processor struct {
	log fieldsync.Log
	cfg Config
	pos int64     // last sequence number written to a file
	w   dx.Writer // reused for every file: keeps its compressor
}

// New returns a processor over the log; call Recover (or Run) next.
func New(log fieldsync.Log, cfg Config) *Processor {
	if cfg.MaxTxns <= 0 {
		cfg.MaxTxns = 10_000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 8 << 20
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("component", "Transaction Processor")
	p := &Processor{log: log, cfg: cfg}
	p.w.Unsynced = true // see the package's crash safety
	return p
}

// Recover finds where the processor stopped: the last file written, or the
// log's trimmed mark when the routers removed every file. Leftover
// temporary files are removed.
func (p *Processor) Recover(ctx context.Context) error {
	if err := os.MkdirAll(p.cfg.Docking.Txnproc(), 0o755); err != nil {
		return fmt.Errorf("transaction processor: %w", err)
	}
	if err := durable.RemoveTemp(p.cfg.Docking.Txnproc()); err != nil {
		return fmt.Errorf("transaction processor: %w", err)
	}
	st, err := p.log.LogState(ctx)
	if err != nil {
		return err
	}
	p.pos = st.Trimmed
	names, err := p.cfg.Docking.TxnprocFiles()
	if err != nil {
		return fmt.Errorf("transaction processor: %w", err)
	}
	if len(names) > 0 {
		_, last, _ := docking.ParseTxnprocName(names[len(names)-1])
		p.pos = max(p.pos, last)
	}
	return nil
}

// Retry pauses of Run after a failed step: doubling from RetryMin up to
// RetryMax.
const (
	RetryMin = 100 * time.Millisecond
	RetryMax = 30 * time.Second
)

// Run processes the log until ctx ends. A step that fails (the disk or
// the database failing for a while, the process out of file descriptors)
// is logged and tried again after a pause (RetryMin doubling up to
// RetryMax), from where the files and the log say the processor is
// (Recover), so that the processor never stops the server.
func (p *Processor) Run(ctx context.Context, changed func() <-chan struct{}) error {
	var pause time.Duration
	ready := false
	for {
		wake := changed()
		n, err := p.try(ctx, &ready)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ready = false
			pause = min(max(2*pause, RetryMin), RetryMax)
			p.cfg.Logger.Error("processing the log failed, trying again", "err", err, "retry_in", pause)
			wake = nil // the pause is taken whole
		} else {
			pause = 0
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(max(pause, p.cfg.Poll)):
		}
	}
}

// try writes the next file, after finding where the processor is when it
// is not ready (at the start, after a failure).
func (p *Processor) try(ctx context.Context, ready *bool) (int, error) {
	if !*ready {
		if err := p.Recover(ctx); err != nil {
			return 0, err
		}
		*ready = true
	}
	return p.Step(ctx)
}

// Step writes at most one file with the next committed log entries and
// returns how many transactions it holds (0 when the log had nothing new).
func (p *Processor) Step(ctx context.Context) (int, error) {
	txns, err := p.log.ReadLog(ctx, p.pos, p.cfg.MaxTxns)
	if err != nil {
		return 0, err
	}
	if len(txns) == 0 {
		return 0, nil
	}
	size := 0
	for i, t := range txns {
		n := approxSize(t)
		if size+n >= p.cfg.MaxBytes && i > 0 {
			txns = txns[:i]
			break
		}
		size += n
	}
	for i, t := range txns {
		if t.Seq != p.pos+int64(i)+1 {
			return 0, fmt.Errorf("transaction processor: log entry %d follows %d: the log has a gap", t.Seq, p.pos+int64(i))
		}
	}
	first, last := txns[0].Seq, txns[len(txns)-1].Seq
	name := docking.TxnprocName(first, last)
	err = p.w.WriteFile(p.cfg.Docking.Txnproc(), name, dx.Header{Kind: dx.KindTxnproc}, txns, func() error { return p.fault("written") })
	if err != nil {
		return 0, fmt.Errorf("transaction processor: write %s: %w", name, err)
	}
	p.pos = last
	if p.cfg.Recent != nil {
		p.cfg.Recent.put(name, txns, size)
	}
	if err := p.fault("renamed"); err != nil {
		return 0, err
	}
	p.cfg.Logger.Debug("wrote transaction file", "file", name, "txns", len(txns))
	if p.cfg.Written != nil {
		p.cfg.Written(name)
	}
	return len(txns), nil
}

func (p *Processor) fault(step string) error {
	if p.cfg.Fault == nil {
		return nil
	}
	return p.cfg.Fault(step)
}

// approxSize estimates a transaction's encoded size, for cutting files.
func approxSize(t fieldsync.Txn) int {
	n := 64 + len(t.Table) + len(t.RowID) + len(t.Origin)
	for _, r := range []fieldsync.Row{t.Values, t.Prev} {
		for k, v := range r {
			n += len(k) + 8
			if s, ok := v.(string); ok {
				n += len(s)
			}
		}
	}
	return n
}
