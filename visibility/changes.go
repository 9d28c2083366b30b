package visibility

import (
	"fmt"
	"sort"

	"github.com/fieldsync/fieldsync"
)

// Change is how one transaction changed who sees one row.
type Change struct {
	Table    string
	ID       string
	Before   Audience
	After    Audience
	Subject  bool // the row the transaction changed (not a row it made visible or invisible)
	Relevant bool // the transaction changed columns visibility reads (or the row's existence)
}

// Apply advances the graph by one transaction and returns how visibility
// changed: first the transaction's own row, with who saw it before and who
// sees it after; then every other row whose audience changed. Purges are
// not part of the graph's input (they never reach the server log).
func (g *Graph) Apply(t fieldsync.Txn) ([]Change, error) {
	tb := g.byName[t.Table]
	if tb == nil {
		return nil, fmt.Errorf("visibility: transaction %d: unknown table %q", t.Seq, t.Table)
	}
	k := rowKey{tb.idx, t.RowID}
	relevant := t.Op != fieldsync.OpUpdate
	if !relevant {
		for _, c := range tb.cols {
			if _, ok := t.Values[c]; ok {
				relevant = true
				break
			}
		}
	}
	if !relevant {
		a := g.audience(tb, t.RowID)
		return []Change{{Table: t.Table, ID: t.RowID, Before: a, After: a, Subject: true}}, nil
	}
	// The rows whose audience may change: everything reachable from the row,
	// before the change and after it.
	affected := map[rowKey]struct{}{}
	g.closure(k, true, affected, nil)
	g.applyTxn(tb, t)
	g.closure(k, true, affected, nil)
	after := make(map[rowKey]Audience, len(affected))
	for a := range affected {
		after[a] = g.audience(g.tabs[a.tab], a.id)
	}
	g.undoTxn(tb, t)
	before := make(map[rowKey]Audience, len(affected))
	for a := range affected {
		before[a] = g.audience(g.tabs[a.tab], a.id)
	}
	g.applyTxn(tb, t)

	out := []Change{{Table: t.Table, ID: t.RowID, Before: before[k], After: after[k], Subject: true, Relevant: true}}
	keys := make([]rowKey, 0, len(affected))
	for a := range affected {
		if a != k && !before[a].Equal(after[a]) {
			keys = append(keys, a)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].tab != keys[j].tab {
			return keys[i].tab < keys[j].tab
		}
		return keys[i].id < keys[j].id
	})
	for _, a := range keys {
		out = append(out, Change{Table: g.tabs[a.tab].table.Name, ID: a.id, Before: before[a], After: after[a], Relevant: true})
	}
	return out, nil
}

// applyTxn changes the graph as the transaction says.
func (g *Graph) applyTxn(tb *tab, t fieldsync.Txn) {
	switch t.Op {
	case fieldsync.OpInsert:
		g.remove(tb, t.RowID) // an insert carries every column
		g.put(tb, t.RowID, t.Values)
	case fieldsync.OpUpdate:
		if _, ok := tb.rows[t.RowID]; ok {
			g.put(tb, t.RowID, t.Values)
		}
	case fieldsync.OpDelete:
		g.remove(tb, t.RowID)
	}
}

// undoTxn reverses applyTxn using the transaction's previous values.
func (g *Graph) undoTxn(tb *tab, t fieldsync.Txn) {
	switch t.Op {
	case fieldsync.OpInsert:
		g.remove(tb, t.RowID)
	case fieldsync.OpUpdate:
		if _, ok := tb.rows[t.RowID]; ok {
			g.put(tb, t.RowID, t.Prev)
		}
	case fieldsync.OpDelete:
		prev := t.Prev.Clone()
		if prev == nil {
			prev = fieldsync.Row{}
		}
		prev["id"] = t.RowID
		g.put(tb, t.RowID, prev)
	}
}

// Undo reverses a transaction already applied to the graph, using its
// previous values. Replaying a suffix of the log backwards with Undo turns
// the graph for the database's current state into the graph for an earlier
// sequence number (the router's restart).
func (g *Graph) Undo(t fieldsync.Txn) error {
	tb := g.byName[t.Table]
	if tb == nil {
		return fmt.Errorf("visibility: transaction %d: unknown table %q", t.Seq, t.Table)
	}
	g.undoTxn(tb, t)
	return nil
}
