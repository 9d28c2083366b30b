package merger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/dx"
)

// Limits bound the work one upload makes the merger do (docs/sync.md "Who
// may write what": a node's work is bounded). A zero field takes its
// default.
type Limits struct {
	// MaxChanges: an upload of more changes is refused whole (from its
	// trailer, before any is decoded).
	MaxChanges int64
	// MaxBytes: an upload whose body inflates past this is refused whole,
	// found while it streams (nothing is inflated into memory first).
	MaxBytes int64
	// MaxInserts: the inserts of an upload past this many are refused,
	// with every later change of it, as one record.
	MaxInserts int64
	// MaxRecords: past this many conflicts and refusals recorded for one
	// upload, the rest of it is refused as one record.
	MaxRecords int64
	// Batch is how many changes are merged in one server transaction, so
	// the database's write lock is held for a bounded time.
	Batch int
}

// The defaults of Limits.
const (
	DefaultMaxChanges = 100_000
	DefaultMaxBytes   = 64 << 20
	DefaultMaxInserts = 50_000
	DefaultMaxRecords = 1_000
	DefaultBatch      = 1_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxChanges <= 0 {
		l.MaxChanges = DefaultMaxChanges
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxInserts <= 0 {
		l.MaxInserts = DefaultMaxInserts
	}
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultMaxRecords
	}
	if l.Batch <= 0 {
		l.Batch = DefaultBatch
	}
	return l
}

// WithLimits sets the caps on one upload's work. It returns m.
func (m *Merger) WithLimits(l Limits) *Merger {
	m.lim = l.withDefaults()
	return m
}

func (m *Merger) dxLimits() dx.Limits {
	return dx.Limits{MaxTxns: m.lim.MaxChanges, MaxBodyBytes: m.lim.MaxBytes}
}

// verify streams a whole upload once before any of it is merged: a file
// damaged, malformed or over a cap anywhere is refused whole, and so is
// one whose schema marker is not its first change or names a version the
// server cannot merge. It holds one change at a time in memory, and
// returns the schema version the upload was made under.
func (m *Merger) verify(ctx context.Context, path, node string, n int64) (*madeUnder, error) {
	rd, err := dx.OpenFileAs(path, fmt.Sprintf("upload %d", n), m.dxLimits())
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	if hdr := rd.Header(); hdr.Kind != dx.KindUpload || hdr.Node != node || int64(hdr.Number) != n {
		return nil, refuse("upload %d of %s is a %s file for node %q numbered %d", n, node, hdr.Kind, hdr.Node, hdr.Number)
	}
	var version int64
	for num := int64(1); ; num++ {
		t, err := rd.Next()
		if err == io.EOF {
			return m.schemaOf(ctx, n, version)
		} else if err != nil {
			return nil, err
		}
		if fieldsync.IsSchemaMarker(t) {
			if version, err = markerAt(n, num, t); err != nil {
				return nil, err
			}
		}
	}
}

// errExtend: the batch's rows are not yet all ones the node may write;
// later changes of the upload (a team row after its account) may make
// them so, so the batch takes a few more changes and is merged again.
var errExtend = errors.New("extend the batch")

// mergeBatches merges a verified upload in batches, each in one server
// transaction that records how far it got, resuming after the last batch
// committed before a stop.
func (m *Merger) mergeBatches(ctx context.Context, node fieldsync.Node, n int64, path string, under *madeUnder) (*uploadMerge, error) {
	prog, err := m.st.MergeProgress(ctx, node.Name, n)
	if err != nil {
		return nil, err
	}
	rd, err := dx.OpenFileAs(path, fmt.Sprintf("upload %d", n), m.dxLimits())
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	total := int64(rd.Count())
	if under.version > 0 {
		// The schema marker verify read: the changes are numbered after it.
		if _, err := rd.Next(); err != nil {
			return nil, err
		}
		total--
	}
	u := newUploadMerge(m, node, n, total, under)
	if prog.Done > 0 {
		if err := u.resume(ctx, rd, prog); err != nil {
			return nil, err
		}
	}
	for {
		batch, err := readBatch(rd, m.lim.Batch)
		if err != nil {
			return nil, err
		}
		for {
			b := &fieldsync.MergeBatch{Node: node.Name, Number: n, From: u.done, To: u.done + int64(len(batch))}
			b.Last = b.To >= u.total
			err = u.merge(ctx, b, batch, !b.Last && len(batch) < 2*m.lim.Batch)
			if errors.Is(err, errExtend) {
				more, err := readBatch(rd, max(m.lim.Batch/4, 1))
				if err != nil {
					return nil, err
				}
				batch = append(batch, more...)
				continue
			}
			if err != nil {
				return nil, err
			}
			u.done, u.batches = b.To, u.batches+1
			if b.Last {
				return u, nil
			}
			break
		}
		if m.between != nil {
			if err := m.between(node.Name, n, u.done); err != nil {
				return nil, err
			}
		}
	}
}

// readBatch reads up to n changes.
func readBatch(rd *dx.Reader, n int) ([]fieldsync.Txn, error) {
	var out []fieldsync.Txn
	for len(out) < n {
		t, err := rd.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// resume reads the changes merged in committed batches again, to learn
// what they did (rows inserted, deleted, refused), without merging them.
func (u *uploadMerge) resume(ctx context.Context, rd *dx.Reader, prog fieldsync.MergeProgress) error {
	recs, err := u.m.st.RefusedChanges(ctx, u.node.Name, u.upload-1)
	if err != nil {
		return err
	}
	refused := map[int64]bool{}
	for _, r := range recs {
		if r.Upload == u.upload && r.Kind == fieldsync.ConflictRefused {
			refused[r.Change] = true
			u.refusedN++
		}
	}
	for num := int64(1); num <= prog.Done; num++ {
		t, err := rd.Next()
		if err != nil {
			return err
		}
		key := rowRef{t.Table, t.RowID}
		switch {
		case refused[num]:
			if t.Op == fieldsync.OpInsert {
				u.refusedRows[key] = num
			}
		case t.Op == fieldsync.OpInsert:
			u.inserted[key], u.deleted[key] = true, false
		case t.Op == fieldsync.OpDelete:
			u.inserted[key], u.deleted[key] = false, true
		}
	}
	u.done, u.inserts, u.recorded, u.written = prog.Done, prog.Inserted, prog.Recorded, prog.Written
	return nil
}

// maxRedo is how many times a batch is merged again leaving out changes
// that failed while merged or left rows the node may not write; after
// that its changes are refused together.
const maxRedo = 4

// errRedo rolls a batch back to merge it again without some changes.
var errRedo = errors.New("merge the batch again")

// merge merges one batch in one server transaction. A change the write
// path refuses, or that leaves a row the node may not write, rolls the
// batch back, and it is merged again with that change refused.
func (u *uploadMerge) merge(ctx context.Context, b *fieldsync.MergeBatch, txns []fieldsync.Txn, canExtend bool) error {
	tr, err := u.translate(ctx, txns, b.From)
	if err != nil {
		return err
	}
	txns, excluded := tr.txns, tr.refused
	last := b.Last
	for attempt := 0; ; attempt++ {
		saved := u.save()
		b.Last = last
		var redo map[int]string
		err := u.m.st.MergeBatch(ctx, b, func(tx fieldsync.MergeTx) error {
			var err error
			redo, err = u.batch(ctx, tx, b, txns, excluded, attempt >= maxRedo)
			switch {
			case err != nil:
				return err
			case len(redo) > 0 && canExtend:
				return errExtend
			case len(redo) > 0:
				return errRedo
			}
			return nil
		})
		if err != nil {
			u.restore(saved)
		}
		if errors.Is(err, errRedo) {
			maps.Copy(excluded, redo)
			continue
		}
		if err == nil {
			u.flushLog()
			u.committed(saved)
			u.dropped += tr.dropped
		}
		return err
	}
}
