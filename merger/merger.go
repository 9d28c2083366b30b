// Package merger is the Transaction Merger: it applies the changes remote
// nodes upload (numbered .dx files in docking/NODE/inbox) to the server
// database, in order, each file in one server transaction that also records
// it as merged, so a file sent twice is merged once. Every merged change
// enters the Transaction Log with its node as origin, so the Transaction
// Router sends it on to the other nodes that see the row and not back.
//
// Every change is checked as if the node were hostile (permit.go; docs/sync.md
// "Who may write what") and merged on its own merits: a change that cannot
// be merged is refused alone, with the later changes of its upload that
// depend on it, and recorded like a conflict; the rest is merged. An upload
// is merged in batches (batch.go), each in one server transaction that
// records how far it got, so the write lock is held for a bounded time and
// a restart resumes after the last batch. Only a damaged or malformed
// file, one over a cap on its size, or any upload of a deactivated node is
// refused whole: its refusal is recorded for the node's next sync, then
// the file set aside in inbox/refused.
//
// Conflicts are resolved as docs/sync.md "Conflicts" says and recorded: field
// by field against the previous values the node sent (server wins or
// client wins, per table), delete wins, an insert clashing on a unique key
// is kept with a conflict marker, and team rows added on both sides merge.
// When the server's value wins, the merger logs it again so the node gets
// it back at its next sync and converges.
package merger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/docking"
)

// Store is what the merger needs of the server database.
type Store interface {
	fieldsync.Merging
	fieldsync.Uploads
	Schema() *fieldsync.Schema
	// SchemaVersion is the version of the schema in force.
	SchemaVersion() int64
	// SchemaAt returns version v of the schema, as the database had it
	// (fieldsync.ErrNotFound when it never had that version): the
	// changes of an upload made under an earlier version are read with it.
	SchemaAt(ctx context.Context, v int64) (*fieldsync.Schema, error)
	fieldsync.Conflicts
	fieldsync.Recoveries
	Node(ctx context.Context, name string) (fieldsync.Node, []byte, error)
	ListNodes(ctx context.Context) ([]fieldsync.Node, error)
	DeactivateNode(ctx context.Context, name string) (fieldsync.Node, error)
}

// OnRefusal says what a refused change (or upload) does to its node.
type OnRefusal string

// What a refusal does to its node.
const (
	OnRefusalContinue   OnRefusal = "continue"   // its later uploads are merged
	OnRefusalStop       OnRefusal = "stop"       // its later uploads wait until an administrator resumes it
	OnRefusalDeactivate OnRefusal = "deactivate" // the node is deactivated
)

// ParseOnRefusal reads an OnRefusal ("" is continue).
func ParseOnRefusal(s string) (OnRefusal, error) {
	switch o := OnRefusal(s); o {
	case "":
		return OnRefusalContinue, nil
	case OnRefusalContinue, OnRefusalStop, OnRefusalDeactivate:
		return o, nil
	}
	return "", fmt.Errorf("unknown refusal mode %q (choose continue, stop or deactivate)", s)
}

// Merger is the Transaction Merger.
type Merger struct {
	st      Store
	docking docking.Folder
	log     *slog.Logger
	lim     Limits
	onRef   OnRefusal
	files   fieldsync.NodeFiles
	poll    time.Duration
	// scanEvery: how often Run looks into every node's inbox.
	scanEvery time.Duration
	// between, when set, runs after each committed batch of an upload
	// that has more; an error stops the merge there (tests: a crash).
	between func(node string, upload, done int64) error
	damaged atomic.Int64 // upload files found damaged, sent again
	rec     Recorder     // nil: nothing recorded
}

// New returns a merger over the docking folder.
func New(st Store, dock docking.Folder, logger *slog.Logger) *Merger {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Merger{st: st, docking: dock, log: logger.With("component", "Transaction Merger"), poll: time.Second, scanEvery: 10 * time.Minute,
		lim: Limits{}.withDefaults(), onRef: OnRefusalContinue}
}

// WithOnRefusal sets what a refusal does to its node. It returns m.
func (m *Merger) WithOnRefusal(o OnRefusal) *Merger {
	m.onRef = o
	return m
}

// WithFiles tells the merger which attachment files each node uploaded
// itself (the file store): a node may name in its rows only those, and the
// files of rows it sees. Without it, only the latter. It returns m.
func (m *Merger) WithFiles(f fieldsync.NodeFiles) *Merger {
	m.files = f
	return m
}

// Run merges uploads as they arrive until ctx ends. wake signals that a
// node uploaded something; uploads received by other processes are found
// within the poll interval. It looks into every node's inbox when it
// starts (uploads received before the server database listed them) and
// now and then after; otherwise only the nodes with uploads waiting.
func (m *Merger) Run(ctx context.Context, wake <-chan struct{}) error {
	var lastScan time.Time
	for {
		var err error
		if time.Since(lastScan) >= m.scanEvery {
			err = m.MergeAll(ctx)
			lastScan = time.Now()
		} else {
			err = m.MergeWaiting(ctx)
		}
		if err != nil && ctx.Err() == nil {
			m.log.Error("merge failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(m.poll):
		}
	}
}

// MergeAll merges the pending uploads of every node, looking into every
// node's inbox.
func (m *Merger) MergeAll(ctx context.Context) error {
	nodes, err := m.st.ListNodes(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return m.mergeNodes(ctx, names)
}

// MergeWaiting merges the uploads of the nodes the server database lists
// as having uploads waiting.
func (m *Merger) MergeWaiting(ctx context.Context) error {
	names, err := m.st.UploadingNodes(ctx)
	if err != nil {
		return err
	}
	return m.mergeNodes(ctx, names)
}

func (m *Merger) mergeNodes(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		if _, err := m.MergeNode(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// MergeNode merges a node's pending uploads in order and returns how many
// it merged or refused. Files merged before are removed, files refused
// before set aside.
func (m *Merger) MergeNode(ctx context.Context, node string) (int, error) {
	nums, err := docking.Numbers(m.docking.Inbox(node))
	if err != nil {
		return 0, err
	}
	last, err := m.st.LastMerged(ctx, node)
	if err != nil {
		return 0, err
	}
	old := 0
	for old < len(nums) && nums[old] <= last {
		old++
	}
	if err := m.dropDone(ctx, node, nums[:old]); err != nil {
		return 0, err
	}
	if len(nums) == 0 || old > 0 {
		// Listed as waiting, but merged (by another merger process, or
		// sent twice): forget them.
		if err := m.st.ClearUploads(ctx, node, last); err != nil {
			return 0, err
		}
	}
	done := 0
	for _, n := range nums[old:] {
		if n != last+1 {
			break // wait for the missing file
		}
		if why, err := m.st.MergeStopped(ctx, node); err != nil || why != "" {
			return done, err // until an administrator resumes the node
		}
		if err := m.mergeFile(ctx, node, n, m.docking.InboxFile(node, n)); err != nil {
			return done, err
		}
		last = n
		done++
	}
	return done, nil
}

// dropDone removes the inbox files of uploads merged before (a file sent
// twice, or left by a stop after its merge committed) and sets aside those
// of uploads refused before (left by a stop after the refusal was recorded).
func (m *Merger) dropDone(ctx context.Context, node string, nums []int64) error {
	if len(nums) == 0 {
		return nil
	}
	refusals, err := m.st.Refused(ctx, node)
	if err != nil {
		return err
	}
	refused := map[int64]bool{}
	for _, r := range refusals {
		refused[r.Number] = true
	}
	for _, n := range nums {
		if refused[n] {
			if err := m.setAside(node, n); err != nil {
				return err
			}
		} else if err := os.Remove(m.docking.InboxFile(node, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// mergeFile merges one upload, or refuses it whole when it is damaged,
// malformed, over a cap, or its node is deactivated.
func (m *Merger) mergeFile(ctx context.Context, node string, n int64, path string) error {
	start := time.Now()
	n0, _, err := m.st.Node(ctx, node)
	if err != nil {
		return err
	}
	var u *uploadMerge
	var under *madeUnder
	if !n0.Active {
		// Deactivated after it uploaded: what waits is not merged.
		err = refuse("node %s is deactivated: its uploads are not merged", node)
	} else if under, err = m.verify(ctx, path, node, n); err == nil {
		u, err = m.mergeBatches(ctx, n0, n, path, under)
	}
	if errors.Is(err, fieldsync.ErrMerged) {
		// Another merger process merged or refused the file meanwhile, or
		// is merging it.
		if last, lerr := m.st.LastMerged(ctx, node); lerr != nil || last < n {
			return lerr
		}
		return m.dropDone(ctx, node, []int64{n})
	}
	if errors.Is(err, fieldsync.ErrDamagedFile) && u == nil && !m.damagedBefore(node, n) {
		m.uploadDone(UploadSentAgain, start)
		return m.sendAgain(ctx, node, n, err)
	}
	var r *refusal
	if err != nil && (errors.As(err, &r) || errors.Is(err, fieldsync.ErrDamagedFile) || errors.Is(err, fieldsync.ErrTooLarge)) {
		if err := m.refuseFile(ctx, node, n, err.Error()); err != nil {
			return err
		}
		m.uploadDone(UploadRefused, start)
		if !n0.Active {
			return nil
		}
		return m.afterRefusal(ctx, node, fmt.Sprintf("upload %d refused: %v", n, err))
	}
	if err != nil {
		return fmt.Errorf("merge upload %d of %s: %w", n, node, err)
	}
	m.log.Info("upload merged", "node", node, "upload", n, "changes", u.total, "refused", u.refusedN, "batches", u.batches,
		"schema_version", under.version, "dropped_values", u.dropped)
	m.uploadDone(UploadMerged, start)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if u.refusedN > 0 {
		return m.afterRefusal(ctx, node, fmt.Sprintf("upload %d: %d of its %d changes refused", n, u.refusedN, u.total))
	}
	return nil
}

// afterRefusal does to the node what the server's refusal mode says.
func (m *Merger) afterRefusal(ctx context.Context, node, why string) error {
	switch m.onRef {
	case OnRefusalStop:
		m.log.Warn("merging stopped until an administrator resumes the node", "node", node, "why", why)
		return m.st.StopMerging(ctx, node, why)
	case OnRefusalDeactivate:
		m.log.Warn("node deactivated after a refusal", "node", node, "why", why)
		_, err := m.st.DeactivateNode(ctx, node)
		return err
	}
	return nil
}

// mergeTx merges one upload file inside one server transaction.
type mergeTx struct {
	m      *Merger
	tx     fieldsync.MergeTx
	ctx    context.Context
	node   fieldsync.Node
	upload int64
	// recorded counts the upload's conflicts and refusals recorded.
	recorded *int64
	// before holds the rows as the batch found them, and written the rows
	// the batch's changes have written since (every write is logged): a
	// row not written is read from before.
	before  *snapshot
	written map[rowRef]bool
}

func (mt *mergeTx) conflict(kind fieldsync.ConflictKind, table, id, field string, winner, loser any) error {
	*mt.recorded++
	return mt.tx.RecordConflict(mt.ctx, fieldsync.Conflict{Node: mt.node.Name, Upload: mt.upload, Kind: kind,
		Table: table, RowID: id, Field: field, Winner: jsonText(winner), Loser: jsonText(loser)})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (mt *mergeTx) apply(origin string, ch fieldsync.Change) error {
	txns, err := mt.tx.Apply(mt.ctx, origin, ch)
	if mt.written != nil {
		for _, t := range txns {
			mt.written[rowRef{t.Table, t.RowID}] = true
		}
	}
	return err
}

// current reads a row as the batch has left it so far.
func (mt *mergeTx) current(table, id string) (fieldsync.Row, error) {
	if mt.before != nil && !mt.written[rowRef{table, id}] {
		return mt.before.Get(mt.ctx, table, id)
	}
	return mt.tx.Get(mt.ctx, table, id)
}

func (mt *mergeTx) merge(t fieldsync.Txn) error {
	s := mt.m.st.Schema()
	tb := s.Table(t.Table)
	if tb == nil || !tb.RemoteWrite {
		return refuse("table %s may not be written by remote nodes", t.Table) // permit.Check refused it first
	}
	cur, err := mt.current(t.Table, t.RowID)
	exists := err == nil
	if err != nil && !errors.Is(err, fieldsync.ErrNotFound) {
		return err
	}
	switch t.Op {
	case fieldsync.OpInsert:
		return mt.insert(tb, t, exists)
	case fieldsync.OpUpdate:
		return mt.update(tb, t, cur, exists)
	case fieldsync.OpDelete:
		if !exists {
			return nil // deleted on both sides
		}
		for k, v := range cur {
			if prev, ok := t.Prev[k]; ok && !fieldsync.ValuesEqual(prev, v) {
				// Delete wins over the server's later update.
				if err := mt.conflict(fieldsync.ConflictDeleteUpdated, t.Table, t.RowID, k, nil, v); err != nil {
					return err
				}
			}
		}
		return mt.apply(mt.node.Name, fieldsync.Change{Op: fieldsync.OpDelete, Table: t.Table, ID: t.RowID})
	}
	return refuse("operation %q cannot be uploaded", t.Op)
}

// update merges an uploaded update field by field against the previous
// values the node sent (docs/sync.md "Conflicts").
func (mt *mergeTx) update(tb *fieldsync.Table, t fieldsync.Txn, cur fieldsync.Row, exists bool) error {
	if !exists {
		// Delete wins: the update of a row deleted on the server is dropped.
		return mt.conflict(fieldsync.ConflictUpdateDeleted, t.Table, t.RowID, "", nil, map[string]any(t.Values))
	}
	vals := map[string]any{}
	var resend map[string]any
	for k, v := range t.Values {
		prev, hadPrev := t.Prev[k]
		if !hadPrev || fieldsync.ValuesEqual(prev, cur[k]) || fieldsync.ValuesEqual(v, cur[k]) {
			vals[k] = v
			continue
		}
		// The field changed on both sides.
		if tb.Conflict == fieldsync.ClientWins {
			vals[k] = v
			if err := mt.conflict(fieldsync.ConflictUpdate, t.Table, t.RowID, k, v, cur[k]); err != nil {
				return err
			}
			// Logged again too: a server change between two batches of
			// the upload may have reached the node after this one's start.
			resend = setKey(resend, k)
			continue
		}
		if err := mt.conflict(fieldsync.ConflictUpdate, t.Table, t.RowID, k, cur[k], v); err != nil {
			return err
		}
		resend = setKey(resend, k)
	}
	if len(vals) > 0 {
		if err := mt.apply(mt.node.Name, fieldsync.Change{Op: fieldsync.OpUpdate, Table: t.Table, ID: t.RowID, Values: vals}); err != nil {
			return err
		}
	}
	if resend != nil {
		// The server's values won: log them again so the node gets them back.
		return mt.apply("", fieldsync.Change{Op: fieldsync.OpUpdate, Table: t.Table, ID: t.RowID, Values: resend, Resend: true})
	}
	return nil
}

func setKey(m map[string]any, k string) map[string]any {
	if m == nil {
		m = map[string]any{}
	}
	m[k] = nil
	return m
}
