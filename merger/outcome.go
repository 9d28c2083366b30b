package merger

import (
	"context"
	"fmt"
	"maps"

	"github.com/fieldsync/fieldsync"
)

// uploadMerge is the merge of one upload, batch after batch: each change
// on its own merits (Siebel's ErrorMode), a change that cannot be merged
// refused alone with the later changes that depend on it, the rest merged.
type uploadMerge struct {
	m       *Merger
	node    fieldsync.Node
	upload  int64
	total   int64 // changes in the upload
	done    int64 // changes merged or refused in committed batches
	batches int
	// madeUnder is the schema version the upload was made under; dropped
	// counts the values of columns dropped since, left out.
	madeUnder *madeUnder
	dropped   int64
	uploadState

	ctx  context.Context
	tx   fieldsync.MergeTx
	logs []refusedLog // the batch's refusals, logged once it commits
}

// uploadState is what the merged changes of an upload did that its later
// changes depend on, and its counts: saved before each try of a batch and
// put back when the try is rolled back.
type uploadState struct {
	inserted, deleted map[rowRef]bool  // by the upload's merged changes (see permit)
	refusedRows       map[rowRef]int64 // rows whose insert was refused, and by which change
	inserts, recorded int64            // rows inserted; conflicts and refusals recorded
	written           int64            // bytes of the values merged changes wrote
	refusedN          int64            // changes refused
	mergedN           int64            // changes merged
	kinds             kindCounts       // conflicts and refusals recorded, by kind
	restFrom          int64            // the changes from this one on were refused as one record (0: none)
}

type refusedLog struct {
	change int64
	reason string
}

func newUploadMerge(m *Merger, node fieldsync.Node, upload, total int64, under *madeUnder) *uploadMerge {
	return &uploadMerge{m: m, node: node, upload: upload, total: total, madeUnder: under, uploadState: uploadState{
		inserted: map[rowRef]bool{}, deleted: map[rowRef]bool{}, refusedRows: map[rowRef]int64{}}}
}

func (u *uploadMerge) save() uploadState {
	s := u.uploadState
	s.inserted, s.deleted, s.refusedRows = maps.Clone(u.inserted), maps.Clone(u.deleted), maps.Clone(u.refusedRows)
	return s
}

func (u *uploadMerge) restore(s uploadState) {
	u.uploadState = s
	u.logs = nil
}

// batch merges one batch of changes inside its server transaction: every
// change is checked against the server database as the batch found it
// (and the upload's earlier changes), those that pass are merged, then
// every row written is checked as the batch left it. It returns the
// changes to leave out of another try: one the write path refused, or the
// last change of each row the node may not write once merged.
func (u *uploadMerge) batch(ctx context.Context, tx fieldsync.MergeTx, b *fieldsync.MergeBatch, txns []fieldsync.Txn, excluded map[int]string, giveUp bool) (map[int]string, error) {
	u.ctx, u.tx, u.logs = ctx, countingTx{tx, &u.kinds}, nil
	sch := u.m.st.Schema()
	// Nothing is written while the changes are checked: they read the
	// database as the batch found it, each row once.
	before := newSnapshot(tx)
	if err := before.prefetch(ctx, sch, batchRows(sch, txns)); err != nil {
		return nil, err
	}
	p := newPermit(ctx, before, sch, u.node, u.m.files)
	p.inserted, p.deleted = u.inserted, u.deleted
	ok := make([]bool, len(txns))
	for i, t := range txns {
		if u.restFrom > 0 {
			break
		}
		var err error
		if ok[i], err = u.check(p, b.From+int64(i)+1, t, excluded[i], giveUp); err != nil {
			return nil, err
		}
	}
	mt := &mergeTx{m: u.m, tx: u.tx, ctx: ctx, node: u.node, upload: u.upload, recorded: &u.recorded,
		before: before, written: map[rowRef]bool{}}
	written := map[rowRef]int{} // row -> the last change that wrote it
	var order []rowRef
	for i, t := range txns {
		num := b.From + int64(i) + 1
		if !ok[i] || (u.restFrom > 0 && num >= u.restFrom) {
			continue
		}
		if u.recorded >= u.m.lim.MaxRecords {
			if err := u.refuseRest(num, fmt.Sprintf("more than %d conflicts and refusals", u.m.lim.MaxRecords)); err != nil {
				return nil, err
			}
			break
		}
		if err := mt.merge(t); err != nil {
			msg, err := refusalText(num, u.total, t, err)
			if err != nil {
				return nil, err
			}
			return map[int]string{i: msg}, nil
		}
		u.written += valueBytes(t.Values)
		u.mergedN++
		if t.Op == fieldsync.OpDelete {
			continue
		}
		k := rowRef{t.Table, t.RowID}
		if _, seen := written[k]; !seen {
			order = append(order, k)
		}
		written[k] = i
	}
	if redo, err := u.after(ctx, tx, p, b, txns, order, written); err != nil || len(redo) > 0 {
		return redo, err
	}
	b.Inserted, b.Recorded, b.Written = u.inserts, u.recorded, u.written
	if u.restFrom > 0 {
		b.Last = true // the rest of the upload is refused
	}
	return nil, nil
}

// after checks every row the batch wrote, as the batch left it (nothing
// is written meanwhile: each row is read once), and returns the last
// change of each row the node may not write, with its refusal.
func (u *uploadMerge) after(ctx context.Context, tx fieldsync.MergeTx, p *permit, b *fieldsync.MergeBatch, txns []fieldsync.Txn,
	order []rowRef, written map[rowRef]int) (map[int]string, error) {
	left := newSnapshot(tx)
	if err := left.prefetch(ctx, p.s, order); err != nil {
		return nil, err
	}
	p.r = left
	redo := map[int]string{}
	for _, k := range order {
		if err := p.After(k.table, k.id); err != nil {
			i := written[k]
			msg, err := refusalText(b.From+int64(i)+1, u.total, txns[i], err)
			if err != nil {
				return nil, err
			}
			redo[i] = msg
		}
	}
	return redo, nil
}

// check decides whether change num may be merged, and records its refusal
// when not: it depends on a refused change, a try of the batch refused it,
// the upload inserts too many rows, or the node may not make it.
func (u *uploadMerge) check(p *permit, num int64, t fieldsync.Txn, excluded string, giveUp bool) (bool, error) {
	if dep := u.dependency(t); dep > 0 {
		return false, u.refuseChange(num, t, fmt.Sprintf("%s: it depends on change %d, which was refused", changeName(num, u.total, t), dep), dep)
	}
	if excluded != "" {
		return false, u.refuseChange(num, t, excluded, 0)
	}
	if giveUp {
		return false, u.refuseChange(num, t, changeName(num, u.total, t)+": too many changes near it could not be merged", 0)
	}
	if t.Op == fieldsync.OpInsert && u.inserts >= u.m.lim.MaxInserts {
		return false, u.refuseRest(num, fmt.Sprintf("the upload inserts more than %d rows", u.m.lim.MaxInserts))
	}
	key := rowRef{t.Table, t.RowID}
	ins, hadIns := p.inserted[key]
	del, hadDel := p.deleted[key]
	if err := p.Check(t); err != nil {
		msg, err := refusalText(num, u.total, t, err)
		if err != nil {
			return false, err
		}
		putBack(p.inserted, key, ins, hadIns)
		putBack(p.deleted, key, del, hadDel)
		return false, u.refuseChange(num, t, msg, 0)
	}
	if t.Op == fieldsync.OpInsert {
		u.inserts++
	}
	return true, nil
}

func putBack(m map[rowRef]bool, k rowRef, v, had bool) {
	if had {
		m[k] = v
	} else {
		delete(m, k)
	}
}

// dependency returns the refused change a change depends on: the refused
// insert of its own row, or of a row one of its foreign keys names (0:
// none).
func (u *uploadMerge) dependency(t fieldsync.Txn) int64 {
	if len(u.refusedRows) == 0 {
		return 0
	}
	if d, ok := u.refusedRows[rowRef{t.Table, t.RowID}]; ok {
		return d
	}
	tb := u.m.st.Schema().Table(t.Table)
	if tb == nil {
		return 0
	}
	for _, c := range tb.Columns {
		if id, _ := t.Values[c.Name].(string); c.References != "" && id != "" {
			if d, ok := u.refusedRows[rowRef{c.References, id}]; ok {
				return d
			}
		}
	}
	return 0
}

// refuseChange records the refusal of one change, like a conflict: the
// node learns it at its next sync and puts the row back. Past the cap on
// records, the rest of the upload is refused as one record instead.
func (u *uploadMerge) refuseChange(num int64, t fieldsync.Txn, reason string, dep int64) error {
	if u.recorded >= u.m.lim.MaxRecords {
		return u.refuseRest(num, fmt.Sprintf("more than %d conflicts and refusals", u.m.lim.MaxRecords))
	}
	u.recorded++
	u.refusedN++
	if t.Op == fieldsync.OpInsert {
		u.refusedRows[rowRef{t.Table, t.RowID}] = num
	}
	u.logs = append(u.logs, refusedLog{num, reason})
	c := fieldsync.Conflict{Node: u.node.Name, Upload: u.upload, Kind: fieldsync.ConflictRefused, Table: t.Table, RowID: t.RowID,
		Change: num, Reason: reason, DependsOn: dep}
	if len(t.Values) > 0 {
		c.Loser = jsonText(map[string]any(t.Values))
	}
	return u.tx.RecordConflict(u.ctx, c)
}

// refuseRest refuses change num and every later change of the upload, as
// one record, and ends the upload's merge.
func (u *uploadMerge) refuseRest(num int64, why string) error {
	u.restFrom = num
	u.refusedN += u.total - num + 1
	reason := fmt.Sprintf("upload %d: changes %d to %d of %d refused: %s", u.upload, num, u.total, u.total, why)
	u.logs = append(u.logs, refusedLog{num, reason})
	return u.tx.RecordConflict(u.ctx, fieldsync.Conflict{Node: u.node.Name, Upload: u.upload, Kind: fieldsync.ConflictRefusedRest,
		Change: num, Reason: reason})
}

// flushLog logs the refusals of a batch that committed: one line each.
func (u *uploadMerge) flushLog() {
	for _, l := range u.logs {
		u.m.log.Warn("change refused", "node", u.node.Name, "upload", u.upload, "change", l.change, "reason", l.reason)
	}
	u.logs = nil
}

// changeName names a change of an upload in a refusal.
func changeName(num, total int64, t fieldsync.Txn) string {
	return fmt.Sprintf("change %d of %d (%s %s %s)", num, total, t.Op, t.Table, t.RowID)
}

// valueBytes is what a change's values take, as the daily limits count
// it: the bytes of each column name and text, eight for any other value.
func valueBytes(vals fieldsync.Row) int64 {
	var n int64
	for k, v := range vals {
		n += int64(len(k))
		if s, ok := v.(string); ok {
			n += int64(len(s))
		} else {
			n += 8
		}
	}
	return n
}
