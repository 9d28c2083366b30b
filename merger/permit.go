package merger

import (
	"context"
	"errors"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// permit decides, change by change, whether a node may make the changes of
// one upload (docs/sync.md "Who may write what"; docs/sync.md says it in full).
// The node is not trusted: whatever it sends, it can neither write a row it
// could not see before the upload, nor make itself see one by its own
// writes, nor change what every node gets.
//
// Check runs on every change before any of the upload is applied, so that
// "seen before the upload" is read from the server database as the upload
// found it, inside the merge transaction; After runs on every row the
// upload wrote, once all of it is applied. Visibility answers are cached
// per row for the upload.
//
// Refusals say what the node may not do with its own data. A row the node
// does not see and a row that does not exist get the same words, so that
// no refusal tells whether an invisible row exists.
type permit struct {
	ctx   context.Context
	r     fieldsync.MergeTx // the merge transaction
	s     *fieldsync.Schema
	node  fieldsync.Node
	files fieldsync.NodeFiles // nil: no file counts as uploaded by the node

	sees     map[rowRef]bool // visibility.Sees before the upload
	own      map[rowRef]bool // visibility.SeesOwn before the upload
	inserted map[rowRef]bool // inserted by an earlier change of the upload
	deleted  map[rowRef]bool // deleted by an earlier change of the upload
	fileOK   map[string]bool
}

// rowRef names a row.
type rowRef struct{ table, id string }

func newPermit(ctx context.Context, r fieldsync.MergeTx, s *fieldsync.Schema, node fieldsync.Node, files fieldsync.NodeFiles) *permit {
	return &permit{ctx: ctx, r: r, s: s, node: node, files: files,
		sees: map[rowRef]bool{}, own: map[rowRef]bool{}, inserted: map[rowRef]bool{}, deleted: map[rowRef]bool{}, fileOK: map[string]bool{}}
}

// Check decides one change against the server database as it was before
// the upload and the upload's earlier changes. It must see every change of
// the upload, in order, before any is applied.
func (p *permit) Check(t fieldsync.Txn) error {
	tb := p.s.Table(t.Table)
	if tb == nil {
		return refuse("unknown table %q", t.Table)
	}
	if !tb.RemoteWrite {
		return refuse("table %s may not be written by remote nodes", t.Table)
	}
	key := rowRef{t.Table, t.RowID}
	switch t.Op {
	case fieldsync.OpInsert:
		if err := p.checkInsert(tb, key); err != nil {
			return err
		}
		p.inserted[key], p.deleted[key] = true, false
		return p.checkValues(tb, t.Values)
	case fieldsync.OpUpdate:
		if err := p.checkWritable(tb, key); err != nil {
			return err
		}
		return p.checkValues(tb, t.Values)
	case fieldsync.OpDelete:
		if err := p.checkDelete(tb, key); err != nil {
			return err
		}
		p.inserted[key], p.deleted[key] = false, true
		return nil
	}
	return refuse("operation %q cannot be uploaded", t.Op)
}

// checkInsert: the id of an inserted row must be new. The node learns that
// a row it sees exists already; of a row it does not see it learns only
// that it may not write it.
func (p *permit) checkInsert(tb *fieldsync.Table, key rowRef) error {
	if p.deleted[key] || p.inserted[key] {
		return nil // the upload's own row: the apply says what is wrong, if anything
	}
	exists, err := p.exists(key)
	if err != nil || !exists {
		return err
	}
	if ok, err := p.seesBefore(tb, key); err != nil {
		return err
	} else if ok {
		return refuse("%s %q already exists on the server", key.table, key.id)
	}
	return p.mayNotWrite(key)
}

// checkWritable: a node updates only rows it saw, through rules of its
// own, before the upload (or inserted earlier in it), and never a row in
// broadcast mode. A row gone from the server is left to the merge: its
// update is dropped and its delete done, as delete wins.
func (p *permit) checkWritable(tb *fieldsync.Table, key rowRef) error {
	if p.inserted[key] {
		return nil
	}
	row, err := p.r.Get(p.ctx, key.table, key.id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if tb.Private {
		if ok, err := p.ownsPrivate(key); err != nil || ok {
			return err
		}
		return p.mayNotWrite(key)
	}
	if tb.Broadcast(row) {
		return refuse("%s %q is in broadcast mode: only the server changes it", key.table, key.id)
	}
	if ok, err := p.ownBefore(key); err != nil || ok {
		return err
	}
	if ok, err := p.seesBefore(tb, key); err != nil {
		return err
	} else if ok {
		return refuse("%s %q is read-only to nodes (every node sees it): only the server changes it", key.table, key.id)
	}
	return p.mayNotWrite(key)
}

// checkDelete: a node deletes only rows it may write, of tables nodes may
// delete from, and only when everything the delete takes with it (cascade)
// or changes (set_null) it may delete or write too. A row inserted by the
// same upload it may always delete again.
func (p *permit) checkDelete(tb *fieldsync.Table, key rowRef) error {
	if p.inserted[key] {
		return nil
	}
	if !tb.RemoteDelete() {
		return refuse("nodes may not delete %s rows", key.table)
	}
	if err := p.checkWritable(tb, key); err != nil {
		return err
	}
	return p.checkDependents(key)
}

// checkDependents walks the rows a delete of key cascades to or clears:
// each must be one the node may delete (cascade) or write (set_null).
func (p *permit) checkDependents(key rowRef) error {
	stack := []rowRef{key}
	done := map[rowRef]bool{key: true}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, ref := range p.s.ReferencesTo(k.table) {
			if ref.Column.OnDelete == fieldsync.OnDeleteRestrict {
				continue // the write path refuses the delete while they exist
			}
			q := fieldsync.Query{Where: map[string]any{ref.Column.Name: k.id}}
			err := fieldsync.Each(p.ctx, p.r, ref.Table.Name, q, func(row fieldsync.Row) error {
				child := rowRef{ref.Table.Name, row.ID()}
				if done[child] {
					return nil
				}
				done[child] = true
				ok, err := p.mayChangeDependent(ref, child, row)
				if err != nil || !ok {
					return orRefuse(err, "node %s may not delete %s %q: rows it may not write depend on it", p.node.Name, key.table, key.id)
				}
				if ref.Column.OnDelete == fieldsync.OnDeleteCascade {
					stack = append(stack, child)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// mayChangeDependent reports whether the node may delete (cascade) or
// clear the foreign key of (set_null) a row that depends on a row it
// deletes. A row seen through a parent rule on that very foreign key is
// seen through the parent, which the node may write.
func (p *permit) mayChangeDependent(ref fieldsync.Ref, child rowRef, row fieldsync.Row) (bool, error) {
	t := ref.Table
	switch {
	case p.inserted[child]:
		return true, nil
	case t.Private:
		return p.ownsPrivate(child)
	case ref.Column.OnDelete == fieldsync.OnDeleteCascade && !t.RemoteDelete(),
		ref.Column.OnDelete == fieldsync.OnDeleteSetNull && (!t.RemoteWrite || t.ServerColumn(ref.Column.Name)),
		t.Broadcast(row):
		return false, nil
	}
	for _, rule := range t.Rules {
		if rule.Kind == fieldsync.RuleParent && rule.Column == ref.Column.Name {
			return true, nil
		}
	}
	return p.ownBefore(child)
}

// checkValues checks the values a node writes: no server column, no
// broadcast mode, foreign keys only to rows it saw before the upload or
// inserted earlier in it, and file references only to files it uploaded
// or sees on a row.
func (p *permit) checkValues(tb *fieldsync.Table, vals fieldsync.Row) error {
	for _, c := range tb.Columns {
		v, set := vals[c.Name]
		if !set {
			continue
		}
		if tb.ServerColumn(c.Name) && v != nil {
			return refuse("%s.%s is set by the server only", tb.Name, c.Name)
		}
		if v == nil {
			continue
		}
		if c.Name == fieldsync.ModeColumn && tb.Broadcasts() && v == fieldsync.ModeBroadcast {
			return refuse("nodes may not put %s rows in broadcast mode: only the server sends a file to every node", tb.Name)
		}
		if err := p.checkReference(tb, c, v); err != nil {
			return err
		}
		if err := p.checkFile(tb, c, v); err != nil {
			return err
		}
	}
	return nil
}

// checkReference: a foreign key value names a row the node saw before the
// upload or inserted earlier in it. A row it does not see and a row that
// does not exist are refused in the same words.
func (p *permit) checkReference(tb *fieldsync.Table, c *fieldsync.Column, v any) error {
	if c.References == "" {
		return nil
	}
	id, _ := v.(string)
	key := rowRef{c.References, id}
	if p.inserted[key] {
		return nil
	}
	target := p.s.Table(c.References)
	if ok, err := p.seesBefore(target, key); err != nil || ok {
		return err
	}
	return refuse("node %s may not point %s.%s at %s %q", p.node.Name, tb.Name, c.Name, key.table, key.id)
}

// checkFile: a file reference names a file the node uploaded itself, or
// one carried by a row it saw before the upload.
func (p *permit) checkFile(tb *fieldsync.Table, c *fieldsync.Column, v any) error {
	if c.Type != fieldsync.TypeFile {
		return nil
	}
	s, _ := v.(string)
	ref, err := fieldsync.ParseFileRef(s)
	if err != nil {
		return refuse("%s.%s: %v", tb.Name, c.Name, err)
	}
	ok, cached := p.fileOK[ref.String()]
	if !cached {
		if ok, err = p.mayNameFile(ref); err != nil {
			return err
		}
		p.fileOK[ref.String()] = ok
	}
	if !ok {
		return refuse("node %s may not name file %s in %s.%s: it did not upload it, and sees no row carrying it", p.node.Name, ref, tb.Name, c.Name)
	}
	return nil
}

func (p *permit) mayNameFile(ref fieldsync.FileRef) (bool, error) {
	if p.files != nil {
		if ok, err := p.files.UploadedBy(p.ctx, p.node.Name, ref); err != nil || ok {
			return ok, err
		}
	}
	for _, t := range p.s.Tables {
		for _, c := range t.Columns {
			if c.Type != fieldsync.TypeFile {
				continue
			}
			page, err := p.r.List(p.ctx, t.Name, fieldsync.Query{Where: map[string]any{c.Name: ref.String()}, Limit: 100})
			if err != nil {
				return false, err
			}
			for _, row := range page.Rows {
				if ok, err := p.seesBefore(t, rowRef{t.Name, row.ID()}); err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return false, nil
}

// After checks a row the upload inserted or updated, once the whole
// upload is applied: the node must see it through rules of its own, and it
// must not be in broadcast mode. A row gone meanwhile (deleted later in
// the upload, merged into the server's team row, or an update dropped as
// delete wins) passes.
func (p *permit) After(table, id string) error {
	tb := p.s.Table(table)
	if tb == nil || tb.Private {
		return nil
	}
	row, err := p.r.Get(p.ctx, table, id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if tb.Broadcast(row) {
		return refuse("nodes may not put %s rows in broadcast mode: only the server sends a file to every node", table)
	}
	ok, err := visibility.SeesOwn(p.ctx, p.r, p.s, p.node.EmployeeID, table, id)
	if err != nil || ok {
		return err
	}
	return refuse("node %s would not see this %s row once its upload is merged: it may not write it", p.node.Name, table)
}

func (p *permit) exists(key rowRef) (bool, error) {
	_, err := p.r.Get(p.ctx, key.table, key.id)
	if errors.Is(err, fieldsync.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// seesBefore is visibility.Sees of the row before the upload, cached. Of a
// private table, a node sees the rows it inserted.
func (p *permit) seesBefore(tb *fieldsync.Table, key rowRef) (bool, error) {
	if tb != nil && tb.Private {
		return p.ownsPrivate(key)
	}
	if ok, cached := p.sees[key]; cached {
		return ok, nil
	}
	ok, err := visibility.Sees(p.ctx, p.r, p.s, p.node.EmployeeID, key.table, key.id)
	if err == nil {
		p.sees[key] = ok
	}
	return ok, err
}

// ownBefore is visibility.SeesOwn of the row before the upload, cached.
func (p *permit) ownBefore(key rowRef) (bool, error) {
	if ok, cached := p.own[key]; cached {
		return ok, nil
	}
	ok, err := visibility.SeesOwn(p.ctx, p.r, p.s, p.node.EmployeeID, key.table, key.id)
	if err == nil {
		p.own[key] = ok
	}
	return ok, err
}

// ownsPrivate reports whether the node inserted a row of a private table
// (the server records who did), cached.
func (p *permit) ownsPrivate(key rowRef) (bool, error) {
	if ok, cached := p.own[key]; cached {
		return ok, nil
	}
	owner, err := p.r.Owner(p.ctx, key.table, key.id)
	if err != nil {
		return false, err
	}
	p.own[key] = owner != "" && owner == p.node.Name
	return p.own[key], nil
}

func (p *permit) mayNotWrite(key rowRef) error {
	return refuse("node %s may not write %s %q", p.node.Name, key.table, key.id)
}

// orRefuse returns err, or when it is nil a refusal.
func orRefuse(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	return refuse(format, args...)
}
