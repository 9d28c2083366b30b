package merger

import (
	"fmt"
	"strings"

	"github.com/fieldsync/fieldsync"
	"github.com/fieldsync/fieldsync/visibility"
)

// nameOf is how a conflict names another row the node's change met: by
// its id when the node sees it, and without it otherwise, so a conflict
// never tells a node of a row it does not see.
func (mt *mergeTx) nameOf(tb *fieldsync.Table, id string) (string, error) {
	ok, err := visibility.Sees(mt.ctx, mt.tx, mt.m.st.Schema(), mt.node.EmployeeID, tb.Name, id)
	if err != nil || ok {
		return id, err
	}
	return "(a row this node does not see)", nil
}

func (mt *mergeTx) insert(tb *fieldsync.Table, t fieldsync.Txn, exists bool) error {
	if exists {
		return refuse("%s %q already exists on the server", t.Table, t.RowID)
	}
	vals := map[string]any(t.Values.Clone())
	var marked []string
	for _, key := range tb.Unique {
		where := map[string]any{}
		null := false
		for _, c := range key {
			if vals[c] == nil {
				null = true
			}
			where[c] = vals[c]
		}
		if null {
			continue
		}
		p, err := mt.tx.List(mt.ctx, t.Table, fieldsync.Query{Where: where, Limit: 1})
		if err != nil {
			return err
		}
		if len(p.Rows) == 0 {
			continue
		}
		other, err := mt.nameOf(tb, p.Rows[0].ID())
		if err != nil {
			return err
		}
		if teamKey(tb, key) {
			// A team row added on both sides: the server's row stands for both.
			return mt.conflict(fieldsync.ConflictTeamMerged, t.Table, t.RowID, strings.Join(key, ","), other, t.RowID)
		}
		// Keep the row, with the key made distinct by a conflict marker.
		c := markable(tb, key)
		if c == "" {
			return refuse("%s: unique key (%s) clashes with another row and has no text column to mark", t.Table, strings.Join(key, ", "))
		}
		orig := vals[c]
		vals[c] = fmt.Sprintf("%v (conflict %s %s)", orig, mt.node.Name, t.RowID)
		marked = append(marked, c)
		if err := mt.conflict(fieldsync.ConflictUnique, t.Table, t.RowID, c, other, orig); err != nil {
			return err
		}
	}
	if err := mt.apply(mt.node.Name, fieldsync.Change{Op: fieldsync.OpInsert, Table: t.Table, ID: t.RowID, Values: vals}); err != nil {
		return err
	}
	if len(marked) > 0 {
		resend := map[string]any{}
		for _, c := range marked {
			resend[c] = nil
		}
		return mt.apply("", fieldsync.Change{Op: fieldsync.OpUpdate, Table: t.Table, ID: t.RowID, Values: resend, Resend: true})
	}
	return nil
}

// teamKey reports whether a unique key is made of foreign keys only: an
// intersection (team) row, which merges instead of clashing.
func teamKey(t *fieldsync.Table, key []string) bool {
	for _, c := range key {
		if col := t.Column(c); col == nil || col.References == "" {
			return false
		}
	}
	return true
}

// markable returns the key's first text column that is not a foreign key.
func markable(t *fieldsync.Table, key []string) string {
	for _, c := range key {
		if col := t.Column(c); col != nil && col.Type == fieldsync.TypeText && col.References == "" {
			return c
		}
	}
	return ""
}
