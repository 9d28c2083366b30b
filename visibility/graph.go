package visibility

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/fieldsync/fieldsync"
)

// Graph is the visibility-relevant state of the server's rows: for every
// row, only the columns visibility rules read (foreign keys of parent and
// referenced_by rules, owner and position columns, and the position table's
// employee column), with reverse indexes to walk the rules both ways.
//
// Visibility is reachability: a row is seen by the employees whose seeds
// (all, owner, position rules) sit on some row from which it can be reached
// along its rules' edges (parent: from the parent row to the child;
// referenced_by: from the referencing row to the referenced one). The least
// fixed point of DESIGN.md is exactly this reachability, cycles included.
//
// A Graph is not safe for concurrent use.
type Graph struct {
	schema *fieldsync.Schema
	tabs   []*tab
	byName map[string]*tab
	// posTab/posEmp: the position table and its employee column index.
	posTab *tab
	posEmp int
	// scratch for traversals
	seen  map[rowKey]struct{}
	stack []rowKey
}

// rowKey names a row in the graph.
type rowKey struct {
	tab int
	id  string
}

// tab is one table's state.
type tab struct {
	idx   int
	table *fieldsync.Table
	cols  []string       // relevant columns, in a fixed order
	col   map[string]int // column -> index in cols
	rows  map[string][]string
	rev   []map[string]map[string]struct{} // per relevant column: value -> ids
	all   bool
	// broadcast is the relevant-column index of the mode column of a table
	// carrying files, or -1: a row in broadcast mode is seen by every node.
	broadcast int

	owners    []int // relevant-column indexes of owner rules
	positions []int // ... of position rules
	// parents: rules "parent: FK": the parent table and the FK column.
	parents []edge
	// refBy: rules "referenced_by: T.FK" of this table: the referencing table and its FK column.
	refBy []edge
	// children: tables with "parent: FK" pointing here (forward edges).
	children []edge
	// refTargets: tables with "referenced_by: THIS.FK" (forward edges from this table's rows).
	refTargets []edge
	// posDeps: tables whose position rules read rows of this table (only the position table).
	posDeps []edge
}

// edge links one table to another through a relevant column.
type edge struct {
	tab *tab // the other table
	col int  // relevant-column index, in whichever table holds the column
}

// NewGraph returns an empty graph for the schema.
func NewGraph(s *fieldsync.Schema) *Graph {
	g := &Graph{schema: s, byName: map[string]*tab{}, seen: map[rowKey]struct{}{}}
	for i, t := range s.Tables {
		tb := &tab{idx: i, table: t, col: map[string]int{}, rows: map[string][]string{}}
		g.tabs = append(g.tabs, tb)
		g.byName[t.Name] = tb
	}
	relevant := func(tb *tab, col string) int {
		if i, ok := tb.col[col]; ok {
			return i
		}
		tb.col[col] = len(tb.cols)
		tb.cols = append(tb.cols, col)
		tb.rev = append(tb.rev, map[string]map[string]struct{}{})
		return len(tb.cols) - 1
	}
	g.posEmp = -1
	if pt := g.byName[s.Nodes.PositionTable]; pt != nil && s.Nodes.PositionEmployee != "" {
		g.posTab = pt
		g.posEmp = relevant(pt, s.Nodes.PositionEmployee)
	}
	for _, tb := range g.tabs {
		tb.broadcast = -1
		if tb.table.Private {
			continue
		}
		if tb.table.Broadcasts() {
			tb.broadcast = relevant(tb, fieldsync.ModeColumn)
		}
		for _, r := range tb.table.Rules {
			switch r.Kind {
			case fieldsync.RuleAll:
				tb.all = true
			case fieldsync.RuleOwner:
				tb.owners = append(tb.owners, relevant(tb, r.Column))
			case fieldsync.RulePosition:
				c := relevant(tb, r.Column)
				tb.positions = append(tb.positions, c)
				if g.posTab != nil {
					g.posTab.posDeps = append(g.posTab.posDeps, edge{tab: tb, col: c})
				}
			case fieldsync.RuleParent:
				c := relevant(tb, r.Column)
				parent := g.byName[tb.table.Column(r.Column).References]
				tb.parents = append(tb.parents, edge{tab: parent, col: c})
				parent.children = append(parent.children, edge{tab: tb, col: c})
			case fieldsync.RuleReferencedBy:
				src := g.byName[r.Table]
				c := relevant(src, r.Column)
				tb.refBy = append(tb.refBy, edge{tab: src, col: c})
				src.refTargets = append(src.refTargets, edge{tab: tb, col: c})
			}
		}
	}
	return g
}

// Columns returns the columns of table the graph keeps (besides id), so a
// loader can read only those. Nil for an unknown table.
func (g *Graph) Columns(table string) []string {
	tb := g.byName[table]
	if tb == nil {
		return nil
	}
	return slices.Clone(tb.cols)
}

// Tables returns the names of the tables the graph holds, in schema order.
func (g *Graph) Tables() []string {
	out := make([]string, len(g.tabs))
	for i, tb := range g.tabs {
		out[i] = tb.table.Name
	}
	return out
}

// Len returns the number of rows the graph holds.
func (g *Graph) Len() int {
	n := 0
	for _, tb := range g.tabs {
		n += len(tb.rows)
	}
	return n
}

// Put sets a row's relevant values from a (whole or partial) row: columns
// absent from r keep their values (null for a new row).
func (g *Graph) Put(table string, r fieldsync.Row) error {
	tb := g.byName[table]
	if tb == nil {
		return fmt.Errorf("visibility: unknown table %q", table)
	}
	id := r.ID()
	if id == "" {
		return fmt.Errorf("visibility: %s row without id", table)
	}
	g.put(tb, id, r)
	return nil
}

func (g *Graph) put(tb *tab, id string, r fieldsync.Row) {
	vals, ok := tb.rows[id]
	if !ok {
		vals = make([]string, len(tb.cols))
	}
	for i, c := range tb.cols {
		v, present := r[c]
		if !present {
			continue
		}
		s, _ := v.(string)
		if ok && vals[i] == s {
			continue
		}
		if ok && vals[i] != "" {
			unindex(tb.rev[i], vals[i], id)
		}
		vals[i] = s
		if s != "" {
			index(tb.rev[i], s, id)
		}
	}
	if !ok {
		for i, s := range vals {
			if s != "" {
				index(tb.rev[i], s, id)
			}
		}
		tb.rows[id] = vals
	}
}

// Remove drops a row.
func (g *Graph) Remove(table, id string) {
	tb := g.byName[table]
	if tb == nil {
		return
	}
	g.remove(tb, id)
}

func (g *Graph) remove(tb *tab, id string) {
	vals, ok := tb.rows[id]
	if !ok {
		return
	}
	for i, s := range vals {
		if s != "" {
			unindex(tb.rev[i], s, id)
		}
	}
	delete(tb.rows, id)
}

func index(m map[string]map[string]struct{}, v, id string) {
	s := m[v]
	if s == nil {
		s = map[string]struct{}{}
		m[v] = s
	}
	s[id] = struct{}{}
}

func unindex(m map[string]map[string]struct{}, v, id string) {
	if s := m[v]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, v)
		}
	}
}

// Audience is who sees a row: every node (All), or the nodes registered
// for the listed employees.
type Audience struct {
	All       bool
	Employees []string // sorted, unique; empty when All
}

// Empty reports whether no one sees the row.
func (a Audience) Empty() bool { return !a.All && len(a.Employees) == 0 }

// Sees reports whether a node of the employee sees the row.
func (a Audience) Sees(employee string) bool {
	if a.All {
		return true
	}
	_, found := slices.BinarySearch(a.Employees, employee)
	return found
}

// Equal reports whether two audiences are the same.
func (a Audience) Equal(b Audience) bool {
	return a.All == b.All && slices.Equal(a.Employees, b.Employees)
}

// Audience returns who sees a row now: the union of the seeds of every row
// it can be reached from. A row the graph does not hold is seen by no one.
func (g *Graph) Audience(table, id string) Audience {
	tb := g.byName[table]
	if tb == nil {
		return Audience{}
	}
	return g.audience(tb, id)
}

func (g *Graph) audience(start *tab, id string) Audience {
	if _, ok := start.rows[id]; !ok {
		return Audience{}
	}
	clear(g.seen)
	g.stack = append(g.stack[:0], rowKey{start.idx, id})
	g.seen[rowKey{start.idx, id}] = struct{}{}
	var emps []string
	push := func(tb *tab, id string) {
		if id == "" {
			return
		}
		if _, ok := tb.rows[id]; !ok {
			return
		}
		k := rowKey{tb.idx, id}
		if _, ok := g.seen[k]; ok {
			return
		}
		g.seen[k] = struct{}{}
		g.stack = append(g.stack, k)
	}
	for len(g.stack) > 0 {
		k := g.stack[len(g.stack)-1]
		g.stack = g.stack[:len(g.stack)-1]
		tb := g.tabs[k.tab]
		vals := tb.rows[k.id]
		if tb.all || tb.broadcast >= 0 && vals[tb.broadcast] == fieldsync.ModeBroadcast {
			return Audience{All: true}
		}
		for _, c := range tb.owners {
			if vals[c] != "" {
				emps = append(emps, vals[c])
			}
		}
		for _, c := range tb.positions {
			if e := g.positionHolder(vals[c]); e != "" {
				emps = append(emps, e)
			}
		}
		for _, p := range tb.parents {
			push(p.tab, vals[p.col])
		}
		for _, rb := range tb.refBy {
			for src := range rb.tab.rev[rb.col][k.id] {
				push(rb.tab, src)
			}
		}
	}
	sort.Strings(emps)
	return Audience{Employees: slices.Compact(emps)}
}

// positionHolder returns the employee holding a position, or "".
func (g *Graph) positionHolder(position string) string {
	if position == "" || g.posTab == nil {
		return ""
	}
	vals, ok := g.posTab.rows[position]
	if !ok {
		return ""
	}
	return vals[g.posEmp]
}

// dependents calls fn for every row whose audience reads row k directly:
// children through parent rules and rows referenced through referenced_by
// rules (the rows k makes visible), and, with seeds, rows whose position
// rules name k (when k is a position: its holder is their seed).
func (g *Graph) dependents(k rowKey, seeds bool, fn func(*tab, string)) {
	tb := g.tabs[k.tab]
	for _, ch := range tb.children {
		for id := range ch.tab.rev[ch.col][k.id] {
			fn(ch.tab, id)
		}
	}
	if vals, ok := tb.rows[k.id]; ok {
		for _, rt := range tb.refTargets {
			if v := vals[rt.col]; v != "" {
				fn(rt.tab, v)
			}
		}
	}
	if !seeds {
		return
	}
	for _, pd := range tb.posDeps {
		for id := range pd.tab.rev[pd.col][k.id] {
			fn(pd.tab, id)
		}
	}
}

// closure adds to set start and every row reachable from it along dependents.
func (g *Graph) closure(start rowKey, seeds bool, set map[rowKey]struct{}) {
	stack := []rowKey{start}
	set[start] = struct{}{}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		g.dependents(k, seeds, func(tb *tab, id string) {
			if _, ok := tb.rows[id]; !ok {
				return
			}
			nk := rowKey{tb.idx, id}
			if _, ok := set[nk]; ok {
				return
			}
			set[nk] = struct{}{}
			stack = append(stack, nk)
		})
	}
}

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
	g.closure(k, true, affected)
	g.applyTxn(tb, t)
	g.closure(k, true, affected)
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

// Visible returns every row an employee's node sees, by table: the rows
// reachable from the employee's seeds.
func (g *Graph) Visible(employee string) map[string][]string {
	set := map[rowKey]struct{}{}
	for _, tb := range g.tabs {
		if tb.table.Private {
			continue
		}
		if tb.all {
			for id := range tb.rows {
				g.closure(rowKey{tb.idx, id}, false, set)
			}
			continue
		}
		if tb.broadcast >= 0 {
			for id := range tb.rev[tb.broadcast][fieldsync.ModeBroadcast] {
				g.closure(rowKey{tb.idx, id}, false, set)
			}
		}
		for _, c := range tb.owners {
			for id := range tb.rev[c][employee] {
				g.closure(rowKey{tb.idx, id}, false, set)
			}
		}
		if len(tb.positions) > 0 && g.posTab != nil {
			for pos := range g.posTab.rev[g.posEmp][employee] {
				for _, c := range tb.positions {
					for id := range tb.rev[c][pos] {
						g.closure(rowKey{tb.idx, id}, false, set)
					}
				}
			}
		}
	}
	out := map[string][]string{}
	for k := range set {
		name := g.tabs[k.tab].table.Name
		out[name] = append(out[name], k.id)
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out
}

// Scanner reads every row of a table: a fieldsync.Snapshot is one.
type Scanner interface {
	Scan(ctx context.Context, table string, fn func(fieldsync.Row) error) error
}

// Load builds the graph of every row src holds in the tables visibility
// depends on (a consistent snapshot, for the router and the extract).
func Load(ctx context.Context, src Scanner, s *fieldsync.Schema) (*Graph, error) {
	g := NewGraph(s)
	for _, tb := range g.tabs {
		err := src.Scan(ctx, tb.table.Name, func(r fieldsync.Row) error {
			g.put(tb, r.ID(), r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load visibility graph: %w", err)
		}
	}
	return g, nil
}
