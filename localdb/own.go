package localdb

import (
	"strings"

	"github.com/fieldsync/fieldsync"
)

// OwnChanges are the node's own changes in its upload files, by row, oldest
// first: the client reads them from its upload files and hands them to
// ApplyInbox, Put and ReplaceData, which add the changes of the local log
// (read inside the applying transaction, so a change the user makes
// meanwhile is either seen or made after the apply) and keep the node's
// values over the server's older ones. The zero value and nil hold none.
type OwnChanges struct {
	rows map[string][]ownChange
}

// ownChange is one of the node's own changes to a row.
type ownChange struct {
	vals              fieldsync.Row // the columns it set, to their values
	inserted, deleted bool
	// before: the change entered the server's log at this sequence number;
	// only transactions routed before it are older than the change. 0 while
	// the change is not merged: every server value is older.
	before int64
}

func rowKey(table, id string) string { return table + "\x00" + id }

// Add adds the changes of one upload file, in order. before is the
// sequence number at which the server's log took the upload in (it merged
// it), or 0 when it is not known merged.
func (o *OwnChanges) Add(txns []fieldsync.Txn, before int64) {
	if o.rows == nil {
		o.rows = map[string][]ownChange{}
	}
	for _, t := range txns {
		if fieldsync.IsSchemaMarker(t) {
			continue // says which schema version the changes were made under
		}
		key := rowKey(t.Table, t.RowID)
		o.rows[key] = append(o.rows[key], ownChange{before: before, inserted: t.Op == fieldsync.OpInsert, deleted: t.Op == fieldsync.OpDelete, vals: t.Values})
	}
}

// withLocal returns o's changes followed by those of the local log, which
// are not merged yet. o is left as it is.
func (o *OwnChanges) withLocal(local []fieldsync.Txn) *OwnChanges {
	out := &OwnChanges{rows: map[string][]ownChange{}}
	if o != nil {
		for k, cs := range o.rows {
			out.rows[k] = cs[:len(cs):len(cs)] // appends copy
		}
	}
	out.Add(local, 0)
	return out
}

// keep returns, for a server transaction about to be applied, the node's
// latest values of the columns its changes newer than t set (kept, even
// when the server sends the row whole again), or deleted when the node
// deleted the row itself.
func (o *OwnChanges) keep(t fieldsync.Txn) (own fieldsync.Row, deleted bool) {
	for _, oc := range o.rows[rowKey(t.Table, t.RowID)] { // oldest first
		if oc.before != 0 && t.Seq >= oc.before {
			continue // the server's value is newer than the node's change
		}
		if oc.deleted {
			return nil, true
		}
		if own == nil {
			own = fieldsync.Row{}
		}
		for k, v := range oc.vals {
			own[k] = v
		}
	}
	return own, false
}

// keepOwn lays the node's own values over a server insert or update, or
// reports that the node deleted the row.
func (o *OwnChanges) keepOwn(t fieldsync.Txn) (fieldsync.Txn, bool) {
	if t.Op != fieldsync.OpInsert && t.Op != fieldsync.OpUpdate {
		return t, false
	}
	own, deleted := o.keep(t)
	if deleted {
		return t, true
	}
	if len(own) > 0 {
		t.Values = t.Values.Clone()
		for c, v := range own {
			if _, sent := t.Values[c]; (sent || t.Op == fieldsync.OpInsert) && c != "id" {
				t.Values[c] = v
			}
		}
	}
	return t, false
}

// ownRow is a row the node changed itself, and whether it inserted it.
type ownRow struct {
	table, id string
	inserted  bool
}

// rowsAfter names the rows the node changed in ways an extract taken at
// seq cannot hold (not merged, or merged after seq), and whether such a
// change inserted the row.
func (o *OwnChanges) rowsAfter(seq int64) []ownRow {
	var out []ownRow
	for key, cs := range o.rows {
		r := ownRow{}
		found := false
		for _, oc := range cs {
			if oc.before != 0 && oc.before <= seq {
				continue // in the extract
			}
			found = true
			r.inserted = r.inserted || oc.inserted
		}
		if found {
			r.table, r.id, _ = strings.Cut(key, "\x00")
			out = append(out, r)
		}
	}
	return out
}
